using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Validation;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Services;

/// <summary>
/// The worker's one stream. The first message must register the node; after that the stream
/// only relays: messages in go to the loop, commands out come from the session's channel through
/// this call's single writer loop.
/// </summary>
[BindServiceMethod(typeof(WorkerGatewayService), nameof(BindService))]
internal sealed partial class WorkerGatewayService : WorkerGateway.WorkerGatewayBase
{
    /// <summary>
    /// The generated binding, except that a malformed request is INVALID_ARGUMENT (see <see cref="Hosting.MalformedRequestBinder"/>).
    /// The parameter is the generated base type: ASP.NET Core looks the handlers up as overrides of its methods.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, WorkerGateway.WorkerGatewayBase? service) =>
        WorkerGateway.BindService(new Hosting.MalformedRequestBinder(binder), service);

    private readonly MasterRole _role;
    private readonly ILogger<WorkerGatewayService> _logger;

    public WorkerGatewayService(MasterRole role, ILogger<WorkerGatewayService> logger)
    {
        _role = role;
        _logger = logger;
    }

    public override async Task Connect(
        IAsyncStreamReader<WorkerMessage> requestStream,
        IServerStreamWriter<MasterCommand> responseStream,
        ServerCallContext context)
    {
        var ct = context.CancellationToken;

        // A standby refuses at once, naming the leader in the trailer: the worker goes there.
        var loop = await _role.RequireLeaderAsync(ct);
        if (!await requestStream.MoveNext(ct))
        {
            return;
        }

        var first = requestStream.Current;
        if (first.BodyCase != WorkerMessage.BodyOneofCase.Register)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "the first message on a stream must be register"));
        }

        var registration = first.Register;
        WorkerMessageValidator.Validate(registration);

        using var session = new WorkerSession(registration.NodeId, context.Peer);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, session.Closed, loop.TermEnded);
        loop.Post(new WorkerConnected(session, registration));
        var writer = WriteAsync(session, responseStream, linked.Token);
        try
        {
            while (await requestStream.MoveNext(linked.Token))
            {
                // A malformed or out-of-order message ends this stream with its status; the node is
                // then treated as any worker whose stream broke.
                WorkerMessageValidator.Validate(requestStream.Current);
                loop.Post(new WorkerMessageReceived(session, requestStream.Current));
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
        catch (IOException ex)
        {
            LogStreamBroken(registration.NodeId, ex.Message);
        }
        finally
        {
            loop.Post(new WorkerDisconnected(session));
            session.Close();
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task WriteAsync(WorkerSession session, IServerStreamWriter<MasterCommand> stream, CancellationToken ct)
    {
        await foreach (var command in session.Commands.ReadAllAsync(ct))
        {
            await stream.WriteAsync(command, ct);
        }
    }

    [LoggerMessage(101, LogLevel.Warning, "Stream from node {NodeId} broke: {Reason}")]
    private partial void LogStreamBroken(string nodeId, string reason);
}
