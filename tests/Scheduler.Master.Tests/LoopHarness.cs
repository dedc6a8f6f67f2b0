using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>
/// The master's scheduling loop on its own: a fake clock, a store that can be made to fail, and
/// worker sessions whose commands the test reads. No network, no processes.
/// </summary>
internal sealed class LoopHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly Lifetime _lifetime = new();
    private readonly MasterMetrics _metrics;

    private LoopHarness(MasterOptions options, IStateStore store, long epoch)
    {
        StateStore = store;
        _metrics = new MasterMetrics(_services.GetRequiredService<IMeterFactory>());
        Term = new LeaderTerm(epoch, Time.GetUtcNow(), Lease);
        Loop = new SchedulerLoop(store, Options.Create(options), Time, NullLogger<SchedulerLoop>.Instance, _metrics, _lifetime, Term);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    /// <summary>The store when it is the in-memory one (most tests); see <see cref="StateStore"/> for a real one.</summary>
    public MemoryStore Store => StateStore as MemoryStore ?? throw new InvalidOperationException("this harness runs on a real store: use StateStore");

    /// <summary>The store the loop writes to (a <see cref="MemoryStore"/> unless the test passed a real one).</summary>
    public IStateStore StateStore { get; }

    /// <summary>The lease behind the loop's term: the test can make it lapse.</summary>
    public TestLease Lease { get; } = new();

    public LeaderTerm Term { get; }

    public SchedulerLoop Loop { get; }

    /// <summary>Starts a term on <paramref name="store"/> (a new one if null; a used one is a restart or a takeover).</summary>
    /// <param name="serving">Whether the host's server listens from the start (false: the test says when, with <see cref="StartServing"/>).</param>
    public static Task<LoopHarness> StartAsync(MasterOptions? options = null, MemoryStore? store = null, bool serving = true) =>
        StartOnAsync(store ?? new MemoryStore(), options, serving);

    /// <summary>As <see cref="StartAsync"/>, on any store (SQLite or etcd for tests that need the real ones).</summary>
    public static async Task<LoopHarness> StartOnAsync(IStateStore store, MasterOptions? options = null, bool serving = true)
    {
        var epoch = await store.BeginTermAsync(CancellationToken.None);
        var harness = new LoopHarness(options ?? new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0 }, store, epoch);
        if (serving)
        {
            harness.StartServing();
        }

        await harness.Loop.StartAsync(CancellationToken.None);
        await harness.Loop.Ready;
        return harness;
    }

    /// <summary>Registers a node with <paramref name="gpus"/> GPUs over a new session and returns the session.</summary>
    public Task<WorkerSession> ConnectAsync(string nodeId, int gpus = 4, params AgentStatus[] agents) =>
        ConnectAsync(nodeId, gpus, migratable: false, agents);

    /// <summary>As above; a <paramref name="migratable"/> node can checkpoint agents and serves transfers (on a made-up address).</summary>
    public async Task<WorkerSession> ConnectAsync(string nodeId, int gpus, bool migratable, params AgentStatus[] agents)
    {
        var session = new WorkerSession(nodeId, "test");
        var registration = new RegisterWorker { NodeId = nodeId, Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 } };
        if (migratable)
        {
            registration.TransferAddress = $"127.0.0.1:{5000 + (nodeId.GetHashCode(StringComparison.Ordinal) & 0xfff)}";
            registration.Capabilities.Add(["checkpoint.app-level", "transfer.v1"]);
        }

        for (var i = 0; i < gpus; i++)
        {
            registration.Gpus.Add(new GpuInfo { Index = i, Uuid = $"GPU-{nodeId}-{i}", Model = "A100", MemoryMib = 40960 });
        }

        registration.Agents.Add(agents);
        Loop.Post(new WorkerConnected(session, registration));
        var registered = await NextAsync(session);
        Assert.That(registered.BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.Registered));
        return session;
    }

    public async Task<Job> SubmitAsync(string requestId, int gpus = 1, bool checkpointable = false, int priority = 0, int checkpointIntervalS = 0)
    {
        var spec = new JobSpec
        {
            Name = requestId,
            Command = "/bin/true",
            Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = gpus },
            Checkpointable = checkpointable,
            Priority = priority,
            CheckpointIntervalS = checkpointIntervalS,
        };
        var reply = await Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = requestId, Spec = spec }, r), Timeout());
        return reply.Job;
    }

    /// <summary>A submit as the Jobs service hands it on: the spec's defaults filled in, so a repeat of its request id compares equal.</summary>
    public Task<SubmitJobResponse> SubmitAsServedAsync(string requestId)
    {
        var spec = Validation.JobSpecDefaults.Apply(new JobSpec { Name = requestId, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64 } });
        return Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = requestId, Spec = spec }, r), Timeout());
    }

    /// <summary>A spec as the Jobs service hands it on (defaults filled in).</summary>
    public static JobSpec ServedSpec(string name) =>
        Validation.JobSpecDefaults.Apply(new JobSpec { Name = name, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64 } });

    /// <summary>A SubmitBatch as the Jobs service hands it on, one served spec per request id.</summary>
    public Task<SubmitJobBatchResponse> SubmitBatchAsync(params string[] requestIds) =>
        SubmitBatchAsync([.. requestIds.Select(id => (id, ServedSpec(id)))]);

    public Task<SubmitJobBatchResponse> SubmitBatchAsync(params (string RequestId, JobSpec Spec)[] items)
    {
        var request = new SubmitJobBatchRequest();
        request.Items.Add(items.Select(i => new SubmitJobRequest { RequestId = i.RequestId, Spec = i.Spec }));
        return Loop.AskAsync<SubmitJobBatchResponse>(r => new SubmitJobBatch(request, r), Timeout());
    }

    /// <summary>Returns once the loop has handled everything posted before, including the scheduling pass after it.</summary>
    public async Task SettleAsync()
    {
        for (var i = 0; i < 2; i++)
        {
            try
            {
                await Loop.AskAsync<Job>(r => new CancelJob("j-none", r), Timeout());
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
            }
        }
    }

    /// <summary>The next command sent on <paramref name="session"/>, skipping heartbeat acknowledgements.</summary>
    public static async Task<MasterCommand> NextAsync(WorkerSession session)
    {
        while (true)
        {
            var command = await session.Commands.ReadAsync(Timeout());
            if (command.BodyCase != MasterCommand.BodyOneofCase.HeartbeatAck)
            {
                return command;
            }
        }
    }

    /// <summary>The next command on <paramref name="session"/> other than exit acknowledgements, which must be of <paramref name="kind"/>.</summary>
    public static MasterCommand Next(WorkerSession session, MasterCommand.BodyOneofCase kind)
    {
        var command = NextAsync(session).GetAwaiter().GetResult();
        while (command.BodyCase != kind && command.BodyCase is MasterCommand.BodyOneofCase.AckExit)
        {
            command = NextAsync(session).GetAwaiter().GetResult();
        }

        Assert.That(command.BodyCase, Is.EqualTo(kind));
        return command;
    }

    /// <summary>An agent's exit as its worker reports it; <paramref name="migrated"/>: stopped because its state moved or is stored.</summary>
    public static WorkerMessage Exit(string jobId, int attempt, bool migrated) => new()
    {
        AgentEvent = new AgentEvent { Agent = new AgentStatus { JobId = jobId, Attempt = attempt, State = AgentState.Exited, ExitCode = 137, Migrated = migrated } },
    };

    /// <summary>Commands already queued on <paramref name="session"/>, without waiting.</summary>
    public static List<MasterCommand> Drain(WorkerSession session)
    {
        var commands = new List<MasterCommand>();
        while (session.Commands.TryRead(out var command))
        {
            commands.Add(command);
        }

        return commands;
    }

    public void Report(WorkerSession session, string jobId, int attempt, AgentState state, int? exitCode = null)
    {
        var status = new AgentStatus { JobId = jobId, Attempt = attempt, State = state };
        if (exitCode is { } code)
        {
            status.ExitCode = code;
        }

        Loop.Post(new WorkerMessageReceived(session, new WorkerMessage { AgentEvent = new AgentEvent { Agent = status } }));
    }

    /// <summary>Posts a worker message as if it came on <paramref name="session"/>.</summary>
    public void Send(WorkerSession session, WorkerMessage message) => Loop.Post(new WorkerMessageReceived(session, message));

    public Task<Job> MigrateAsync(string jobId, string target = "") =>
        Loop.AskAsync<Job>(r => new MigrateJob(jobId, target, r), Timeout());

    public Task<Job> CancelAsync(string jobId) =>
        Loop.AskAsync<Job>(r => new CancelJob(jobId, r), Timeout());

    public Task<Job> SuspendAsync(string jobId) =>
        Loop.AskAsync<Job>(r => new SuspendJob(jobId, r), Timeout());

    public Task<Job> ResumeAsync(string jobId) =>
        Loop.AskAsync<Job>(r => new ResumeJob(jobId, r), Timeout());

    /// <summary>Moves the fake clock on by <paramref name="by"/> in steps, the listed nodes heartbeating at each, letting the loop handle its ticks.</summary>
    public async Task PassAsync(TimeSpan step, TimeSpan by, params WorkerSession[] alive)
    {
        for (var passed = TimeSpan.Zero; passed < by; passed += step)
        {
            foreach (var session in alive)
            {
                Heartbeat(session);
            }

            await SettleAsync();
            await AdvanceAsync(step);
        }
    }

    /// <summary>
    /// Moves the fake clock on by <paramref name="by"/> and returns once the loop has handled a tick at
    /// the new time. The loop's own timer posts ticks too, but from a thread-pool continuation that a
    /// busy machine may run only after the settle: the tick posted here is the one that is certain.
    /// </summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        Loop.Post(Tick.Instance);
        await SettleAsync();
    }

    /// <summary>The host starts serving (the harness's host never does unless told).</summary>
    public void StartServing() => _lifetime.Start();

    public void Heartbeat(WorkerSession session) =>
        Loop.Post(new WorkerMessageReceived(session, new WorkerMessage { Heartbeat = new Heartbeat { Sequence = 1 } }));

    public async ValueTask DisposeAsync()
    {
        _lifetime.Stop();
        await Loop.StopAsync(CancellationToken.None);
        Loop.Dispose();
        Term.Dispose();
        await Lease.DisposeAsync();
        _metrics.Dispose();
        await _services.DisposeAsync();
        _lifetime.Dispose();
    }

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private sealed class Lifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private readonly CancellationTokenSource _started = new();

        public CancellationToken ApplicationStarted => _started.Token;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Stop();

        public void Stop() => _stopping.Cancel();

        /// <summary>The host's server listens from now on.</summary>
        public void Start() => _started.Cancel();

        public void Dispose()
        {
            _stopping.Dispose();
            _started.Dispose();
        }
    }
}
