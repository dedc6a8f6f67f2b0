using Grpc.Core;
using Microsoft.Extensions.Options;
using Scheduler.Contracts.V1;
using Scheduler.Hosting;
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
    private readonly bool _tls;
    private readonly long _maxEpochAdvance;
    private readonly TimeProvider _time;

    /// <param name="tls">Registered unless the master runs with --insecure.</param>
    public WorkerGatewayService(MasterRole role, ILogger<WorkerGatewayService> logger, IOptions<MasterOptions> options, TimeProvider time, ClusterTls? tls = null)
    {
        _role = role;
        _logger = logger;
        _tls = tls is not null;
        _maxEpochAdvance = options.Value.MaxEpochAdvance;
        _time = time;
    }

    public override async Task Connect(
        IAsyncStreamReader<WorkerMessage> requestStream,
        IServerStreamWriter<MasterCommand> responseStream,
        ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var certified = _tls ? CertifiedNode(context) : null;

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
        if (certified is not null && !ClusterTrust.NodeMayBe(certified, registration.NodeId))
        {
            LogImpersonation(certified, registration.NodeId, context.Peer);
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"register.node_id '{registration.NodeId}' is not the node your certificate names (node:{certified})"));
        }

        EpochClaim.Check(registration.LastEpoch, loop.View.Epoch, _maxEpochAdvance);

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
                Heard(loop, session, requestStream.Current);
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

    /// <summary>
    /// The node a TLS worker's certificate names: the gateway is for cluster nodes only, so a call without a
    /// verified "node:NAME" certificate ends here (Kestrel has already checked any certificate against the CA).
    /// </summary>
    private string CertifiedNode(ServerCallContext context)
    {
        var peer = ClusterTls.Peer(context.GetHttpContext());
        if (peer is (ClusterTrust.NodeRole, { } name))
        {
            return name;
        }

        LogUncertified(context.Peer, peer is { } p ? $"{p.Role}:{p.Name}" : "none");
        throw new RpcException(new Status(StatusCode.Unauthenticated,
            "the worker gateway needs a client certificate CN=node:NAME issued by the cluster CA (schedctl certs issue --node NAME)"));
    }

    /// <summary>
    /// Notes the worker heard from now and acknowledges a heartbeat at once, off the scheduling loop:
    /// the loop's failure detector counts the node heard from this moment (WorkerSession.LastHeard),
    /// so the worker's fencing clock may restart from the heartbeat's send time however far behind
    /// the loop is. Its agents' states still go to the loop, in order. The acknowledgement carries the
    /// loop's epoch (a worker ignores commands of an older one) and, like every command, is withheld
    /// once the term cannot prove its lease.
    /// </summary>
    private void Heard(SchedulerLoop loop, WorkerSession session, WorkerMessage message) =>
        session.Heard(
            _time.GetUtcNow(),
            message.BodyCase == WorkerMessage.BodyOneofCase.Heartbeat && loop.MayCommand
                ? new MasterCommand { Epoch = loop.CommandEpoch, HeartbeatAck = new HeartbeatAck { Sequence = message.Heartbeat.Sequence } }
                : null);

    private static async Task WriteAsync(WorkerSession session, IServerStreamWriter<MasterCommand> stream, CancellationToken ct)
    {
        await foreach (var command in session.Commands.ReadAllAsync(ct))
        {
            await stream.WriteAsync(command, ct);
        }
    }

    [LoggerMessage(102, LogLevel.Warning, "Refused worker gateway call from {Peer}: certificate {Certificate} is no node's")]
    private partial void LogUncertified(string peer, string certificate);

    [LoggerMessage(103, LogLevel.Warning, "Refused registration as node {NodeId} from {Peer}: its certificate names node {CertifiedNode}")]
    private partial void LogImpersonation(string certifiedNode, string nodeId, string peer);

    [LoggerMessage(101, LogLevel.Warning, "Stream from node {NodeId} broke: {Reason}")]
    private partial void LogStreamBroken(string nodeId, string reason);
}
