using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Hosting;
using Scheduler.Tests.Common;
using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

/// <summary>
/// An in-process master that speaks just enough of WorkerGateway: as a leader it accepts the
/// registration and then only listens; as a standby it answers FAILED_PRECONDITION with the leader trailer.
/// </summary>
internal sealed class FakeMaster : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _registered = new();
    private readonly ConcurrentQueue<RegisterWorker> _registrations = new();
    private readonly ConcurrentQueue<long> _attempts = new();
    private readonly ConcurrentQueue<WorkerMessage> _received = new();

    private FakeMaster(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    private System.Runtime.CompilerServices.StrongBox<int> _open = new();

    /// <summary>TCP connections open to this master right now.</summary>
    public int OpenConnections => Volatile.Read(ref _open.Value);

    /// <summary>The HTTP/2 connection each Connect call came on.</summary>
    public IReadOnlyCollection<string> ConnectionIds => _connectionIds;

    private readonly ConcurrentQueue<string> _connectionIds = new();

    /// <summary>Null for a leader; otherwise the trailer value a standby answers with ("" while no leader is known).</summary>
    public Func<string>? LeaderHint { get; set; }

    public int Attempts => _attempts.Count;

    /// <summary>When each Connect call arrived, as <see cref="System.Diagnostics.Stopwatch"/> timestamps.</summary>
    public IReadOnlyCollection<long> AttemptTimes => _attempts;

    public IReadOnlyCollection<string> Registered => _registered;

    public IReadOnlyCollection<RegisterWorker> Registrations => _registrations;

    /// <summary>What workers sent after registering, heartbeats included.</summary>
    public IReadOnlyCollection<WorkerMessage> Received => _received;

    /// <summary>
    /// Set: each registration waits for one release of this semaphore before it is answered (the test
    /// paces the master's answers). Null: answered at once.
    /// </summary>
    public SemaphoreSlim? Answers { get; set; }

    /// <summary>Registrations received and not yet answered (or abandoned by their worker) right now.</summary>
    public int Unanswered => Volatile.Read(ref _unanswered);

    /// <summary>The most registrations that were ever unanswered at once.</summary>
    public int MostUnanswered => Volatile.Read(ref _mostUnanswered);

    private int _unanswered;
    private int _mostUnanswered;

    private void RegistrationArrived()
    {
        var now = Interlocked.Increment(ref _unanswered);
        int most;
        while (now > (most = Volatile.Read(ref _mostUnanswered)) && Interlocked.CompareExchange(ref _mostUnanswered, now, most) != most)
        {
        }
    }

    /// <summary>Sent to each worker right after its registration is accepted.</summary>
    public IReadOnlyList<MasterCommand> AfterRegistered { get; set; } = [];

    /// <summary>
    /// Starts a fake master on 127.0.0.1. With <paramref name="tls"/> it serves TLS as a real master does, with
    /// master:test of the test CA, and takes only callers showing a node certificate of that CA; its address is then https://.
    /// </summary>
    public static async Task<FakeMaster> StartAsync(CancellationToken ct, bool tls = false)
    {
        var identity = tls ? MasterTls() : null;
        var open = new System.Runtime.CompilerServices.StrongBox<int>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            identity?.Serve(listen, require: true, role: ClusterTrust.NodeRole);
            listen.Use(next => async connection =>
            {
                Interlocked.Increment(ref open.Value);
                try
                {
                    await next(connection);
                }
                finally
                {
                    Interlocked.Decrement(ref open.Value);
                }
            });
        }));
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<Holder>();
        var app = builder.Build();
        app.MapGrpcService<Gateway>();
        await app.StartAsync(ct);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        var master = new FakeMaster(app, new Uri(address)) { _open = open };
        app.Services.GetRequiredService<Holder>().Master = master;
        return master;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }

    private static ClusterTls MasterTls()
    {
        var (cert, key) = TestCertificates.Files(ClusterRole.Master, "test");
        return ClusterTls.Load(ClusterTrust.MasterRole, cert, key, TestCertificates.CaPath, insecure: false)!;
    }

    private sealed class Holder
    {
        public FakeMaster? Master { get; set; }
    }

    private sealed class Gateway(Holder holder) : WorkerGateway.WorkerGatewayBase
    {
        public override async Task Connect(IAsyncStreamReader<WorkerMessage> requestStream, IServerStreamWriter<MasterCommand> responseStream, ServerCallContext context)
        {
            var master = holder.Master ?? throw new RpcException(new Status(StatusCode.Unavailable, "starting"));
            master._attempts.Enqueue(System.Diagnostics.Stopwatch.GetTimestamp());
            master._connectionIds.Enqueue(context.GetHttpContext().Connection.Id);
            if (master.LeaderHint is { } hint)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "not the leader"), new Metadata { { StandbyAnswer.LeaderTrailer, hint() } });
            }

            var ct = context.CancellationToken;
            if (!await requestStream.MoveNext(ct) || requestStream.Current.BodyCase != WorkerMessage.BodyOneofCase.Register)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "register first"));
            }

            var nodeId = requestStream.Current.Register.NodeId;
            master._registrations.Enqueue(requestStream.Current.Register);
            master.RegistrationArrived();
            try
            {
                if (master.Answers is { } answers)
                {
                    await answers.WaitAsync(ct);
                }
            }
            finally
            {
                // Before the answer is written: a worker that has read it may register another node at once.
                Interlocked.Decrement(ref master._unanswered);
            }

            await responseStream.WriteAsync(new MasterCommand
            {
                Epoch = 1,
                Registered = new Registered { NodeId = nodeId, HeartbeatIntervalMs = 200, DeadAfterMs = 10_000 },
            }, ct);
            master._registered.Enqueue(nodeId);
            try
            {
                foreach (var command in master.AfterRegistered)
                {
                    await responseStream.WriteAsync(command, ct);
                }

                while (await requestStream.MoveNext(ct))
                {
                    master._received.Enqueue(requestStream.Current);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // The worker went away.
            }
        }
    }
}
