using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Services;

/// <summary>
/// The worker's one stream. The first message must register the node; after that the stream
/// only relays: messages in go to the loop, commands out come from the session's channel through
/// this call's single writer loop.
/// </summary>
internal sealed partial class WorkerGatewayService : WorkerGateway.WorkerGatewayBase
{
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
        Validate(registration);

        using var session = new WorkerSession(registration.NodeId, context.Peer);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, session.Closed, loop.TermEnded);
        loop.Post(new WorkerConnected(session, registration));
        var writer = WriteAsync(session, responseStream, linked.Token);
        try
        {
            while (await requestStream.MoveNext(linked.Token))
            {
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

    private static void Validate(RegisterWorker r)
    {
        static RpcException Invalid(string field, string problem) =>
            new(new Status(StatusCode.InvalidArgument, $"register.{field} {problem}"));

        if (string.IsNullOrWhiteSpace(r.NodeId) || r.NodeId.Length > 253)
        {
            throw Invalid("node_id", "is required and must be at most 253 characters");
        }

        if (r.Capacity is null || r.Capacity.CpuMillis <= 0 || r.Capacity.MemoryMib <= 0)
        {
            throw Invalid("capacity", "must give positive cpu_millis and memory_mib");
        }

        if (r.Gpus.Count > Core.Resources.ResourceLimits.MaxGpus)
        {
            throw Invalid("gpus", $"must list at most {Core.Resources.ResourceLimits.MaxGpus} GPUs");
        }

        if (r.Gpus.Select(g => g.Uuid).Distinct(StringComparer.Ordinal).Count() != r.Gpus.Count || r.Gpus.Any(g => g.Uuid.Length == 0))
        {
            throw Invalid("gpus", "must have distinct, non-empty UUIDs");
        }
    }

    [LoggerMessage(101, LogLevel.Warning, "Stream from node {NodeId} broke: {Reason}")]
    private partial void LogStreamBroken(string nodeId, string reason);
}
