using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

/// <summary>The master link against in-process fake masters on loopback: a leader and standbys.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class MasterLinkTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly List<IAsyncDisposable> _cleanup = [];
    private string _dir = null!;
    private AgentLauncher _launcher = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-link-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _launcher = new AgentLauncher();
    }

    [TearDown]
    public async Task TearDown()
    {
        // Workers first, then the masters they talk to.
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            await _cleanup[i].DisposeAsync();
        }

        _cleanup.Clear();
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Worker_given_only_a_standby_registers_with_the_leader_it_names(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);
        var standby = await StartMasterAsync(ct);
        standby.LeaderHint = () => leader.Address.OriginalString;

        StartWorker("node-1", standby.Address.OriginalString);

        await Eventually.TrueAsync(() => leader.Registered.Contains("node-1"), "node-1 to register with the leader", Deadline);
        Assert.That(standby.Attempts, Is.EqualTo(1), "one redirect is enough");
    }

    [Test]
    public async Task Standby_that_knows_no_leader_sends_the_worker_to_the_next_listed_master(CancellationToken ct)
    {
        var standby = await StartMasterAsync(ct);
        standby.LeaderHint = () => "";
        var leader = await StartMasterAsync(ct);

        StartWorker("node-1", $"{standby.Address.OriginalString},{leader.Address.OriginalString}");

        await Eventually.TrueAsync(() => leader.Registered.Contains("node-1"), "node-1 to register with the second master", Deadline);
        Assert.That(standby.Attempts, Is.GreaterThanOrEqualTo(1), "the first listed master was asked first");
    }

    [Test]
    public async Task Standby_naming_itself_is_asked_again_only_after_backoff(CancellationToken ct)
    {
        var standby = await StartMasterAsync(ct);
        standby.LeaderHint = () => standby.Address.OriginalString;

        StartWorker("node-1", standby.Address.OriginalString);

        // A standby answers, so the worker polls as in an election: at least 75 ms before each of the
        // 2nd and 3rd attempts; a loop would take a few ms.
        await Eventually.TrueAsync(() => standby.Attempts >= 3, "three attempts", Deadline);
        Assert.That(Span(standby.AttemptTimes, 3), Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(145)));
    }

    [Test]
    public async Task Standbys_naming_each_other_are_not_followed_in_a_tight_loop(CancellationToken ct)
    {
        var first = await StartMasterAsync(ct);
        var second = await StartMasterAsync(ct);
        first.LeaderHint = () => second.Address.OriginalString;
        second.LeaderHint = () => first.Address.OriginalString;

        StartWorker("node-1", first.Address.OriginalString);

        // Two hops at once, then a backoff that grows per hop: at least 100, 200 and 400 ms before the 4th to 6th attempts.
        await Eventually.TrueAsync(() => first.Attempts + second.Attempts >= 6, "six attempts", Deadline);
        Assert.That(Span([.. first.AttemptTimes, .. second.AttemptTimes], 6), Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(700)));
    }

    [Test]
    public async Task A_closed_port_is_recognised_as_connection_refused(CancellationToken ct)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        using var call = new WorkerGateway.WorkerGatewayClient(channel).Connect(cancellationToken: ct);
        var error = await CatchAsync(async () =>
        {
            await call.RequestStream.WriteAsync(new WorkerMessage { Register = new RegisterWorker { NodeId = "node-1" } }, ct);
            await call.ResponseStream.MoveNext(ct);
        });

        Assert.That(MasterLink.IsConnectionRefused(error), Is.True, error.ToString());
        Assert.That(StandbyAnswer.From(error, call), Is.Null);
    }

    [Test]
    public async Task Empty_command_is_answered_with_command_rejected(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);
        leader.AfterRegistered = [new MasterCommand { Epoch = 1 }];

        StartWorker("node-1", leader.Address.OriginalString);

        await Eventually.TrueAsync(() => Rejected(leader).Any(), "a CommandRejected", Deadline);
        Assert.That(Rejected(leader).First().Command, Is.EqualTo("empty"));
    }

    [Test]
    public async Task Command_of_a_newer_protocol_is_rejected_naming_its_field(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);

        // Epoch 1 (field 1), then a body in field 42, which this worker's MasterCommand does not have.
        var newer = MasterCommand.Parser.ParseFrom([0x08, 0x01, 0xD2, 0x02, 0x00]);
        Assert.That(newer.BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.None), "the unknown body is kept as an unknown field");
        leader.AfterRegistered = [newer, newer];

        StartWorker("node-1", leader.Address.OriginalString);

        await Eventually.TrueAsync(() => Rejected(leader).Count() >= 2, "both commands rejected", Deadline);
        Assert.That(Rejected(leader).Select(r => r.Command), Is.All.EqualTo("field 42"));
    }

    [Test]
    public async Task Stale_unknown_command_is_ignored_not_rejected(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);
        leader.AfterRegistered = [new MasterCommand { Epoch = 0 }, new MasterCommand { Epoch = 1 }];

        StartWorker("node-1", leader.Address.OriginalString);

        await Eventually.TrueAsync(() => Rejected(leader).Any(), "a CommandRejected", Deadline);
        await Eventually.TrueAsync(() => leader.Received.Count(m => m.BodyCase == WorkerMessage.BodyOneofCase.Heartbeat) >= 2, "two heartbeats after it", Deadline);
        Assert.That(Rejected(leader).Count(), Is.EqualTo(1), "only the command of the current epoch is answered");
    }

    [Test]
    public async Task Registration_reports_what_the_worker_has(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);

        StartWorker("node-1", leader.Address.OriginalString, new AgentCgroups(_dir, cpu: true, memory: false));

        await Eventually.TrueAsync(() => leader.Registrations.Count > 0, "node-1 to register", Deadline);
        Assert.That(leader.Registrations.First().Capabilities, Is.EqualTo(new[] { WorkerCapabilities.CgroupCpu }));
    }

    [Test]
    public async Task Registration_without_cgroups_or_keeper_reports_no_capabilities(CancellationToken ct)
    {
        var leader = await StartMasterAsync(ct);

        StartWorker("node-1", leader.Address.OriginalString);

        await Eventually.TrueAsync(() => leader.Registrations.Count > 0, "node-1 to register", Deadline);
        Assert.That(leader.Registrations.First().Capabilities, Is.Empty);
    }

    [Test]
    public async Task Simulated_nodes_of_one_process_share_a_connection_each_registering_its_own_node(CancellationToken ct)
    {
        var master = await StartMasterAsync(ct);
        var connections = new MasterConnections(null);
        _cleanup.Add(new Disposing(connections));
        string[] nodes = ["sim-000", "sim-001", "sim-002"];

        foreach (var node in nodes)
        {
            StartWorker(node, master.Address.ToString(), connections: connections);
        }

        await Eventually.TrueAsync(() => master.Registered.Count >= nodes.Length, "every node to register", Deadline);
        Assert.That(master.Registered, Is.EquivalentTo(nodes));
        Assert.That(master.ConnectionIds.Distinct().Count(), Is.EqualTo(1), "one HTTP/2 connection carries all three streams");
    }

    [Test]
    public async Task Simulated_nodes_beyond_a_connections_share_ride_one_more_connection_not_one_each(CancellationToken ct)
    {
        var master = await StartMasterAsync(ct);
        var connections = new MasterConnections(null, linksPerConnection: 2);
        _cleanup.Add(new Disposing(connections));
        string[] nodes = ["sim-000", "sim-001", "sim-002", "sim-003", "sim-004"];

        foreach (var node in nodes)
        {
            StartWorker(node, master.Address.ToString(), connections: connections);
        }

        await Eventually.TrueAsync(() => master.Registered.Count >= nodes.Length, "every node to register", Deadline);
        Assert.That(master.Registered, Is.EquivalentTo(nodes));
        Assert.That(master.ConnectionIds.Distinct().Count(), Is.EqualTo(3), "two streams a connection: 2 + 2 + 1");
    }

    [Test]
    public async Task Simulated_nodes_of_one_process_have_no_more_registrations_in_flight_than_its_gate_allows(CancellationToken ct)
    {
        var master = await StartMasterAsync(ct);
        using var answers = new SemaphoreSlim(0);
        master.Answers = answers;
        var connections = new MasterConnections(null);
        _cleanup.Add(new Disposing(connections));
        var gate = new RegistrationGate(2);
        _cleanup.Add(new Disposing(gate));
        var nodes = Enumerable.Range(0, 8).Select(i => $"sim-{i:D3}").ToArray();

        foreach (var node in nodes)
        {
            StartWorker(node, master.Address.ToString(), connections: connections, registrations: gate);
        }

        // The master answers one registration at a time, each once two more than it answered have
        // arrived: were the gate leaky, more would have arrived before each answer.
        for (var answered = 0; answered < nodes.Length; answered++)
        {
            var arrived = Math.Min(nodes.Length, answered + 2);
            await Eventually.TrueAsync(() => master.Registrations.Count >= arrived, $"{arrived} registrations to arrive after {answered} answers", Deadline);
            answers.Release();
        }

        await Eventually.TrueAsync(() => master.Registered.Count == nodes.Length, "every node to register", Deadline);
        Assert.That(master.Registered, Is.EquivalentTo(nodes));
        Assert.That(master.MostUnanswered, Is.EqualTo(2), "never more registrations in flight than the gate allows");
        // The fake master counts a node registered once its answer is written; the worker gives the
        // place back once it has read it, a moment later.
        await Eventually.TrueAsync(() => gate.InFlight == 0, "each place given back once its registration was answered", Deadline);
    }

    [Test]
    public async Task A_node_that_stops_closes_its_connection(CancellationToken ct)
    {
        var master = await StartMasterAsync(ct);
        var worker = StartWorker("node-1", master.Address.ToString());
        await Eventually.TrueAsync(() => master.Registered.Count > 0, "node-1 to register", Deadline);

        await worker.DisposeAsync();

        // The channel disposes the handler it was given: the connection does not linger in its pool, pinging.
        await Eventually.TrueAsync(() => master.OpenConnections == 0, "the worker's connection to close", Deadline);
    }

    [Test]
    public async Task Start_waiting_for_the_launcher_does_not_hold_back_the_commands_after_it(CancellationToken ct)
    {
        using var gate = new SemaphoreSlim(0);
        var held = new AgentLauncher(process =>
        {
            gate.Wait(Deadline);
            process.Start();
        });
        _cleanup.Add(new Disposing(held));
        var leader = await StartMasterAsync(ct);
        leader.AfterRegistered =
        [
            new MasterCommand { Epoch = 1, Start = new StartAgent { JobId = "job-1", Attempt = 1, Command = "/bin/true" } },
            new MasterCommand { Epoch = 1, FetchLogs = new FetchLogs { RequestId = "logs-1", JobId = "job-1", Attempt = 1 } },
        ];

        StartWorker("node-1", leader.Address.OriginalString, launcher: held);

        // The launcher holds the start; the command behind it is answered all the same.
        await Eventually.TrueAsync(() => leader.Received.Any(m => m.BodyCase == WorkerMessage.BodyOneofCase.Logs), "the logs request to be answered", Deadline);
        Assert.That(AgentStates(leader, "job-1"), Does.Not.Contain(AgentState.Running), "the start is still held by the launcher");

        gate.Release();
        await Eventually.TrueAsync(() => AgentStates(leader, "job-1").Contains(AgentState.Exited), "job-1 to run and exit once the launcher goes on", Deadline);
    }

    [Test]
    public async Task Start_stopped_while_it_waits_for_the_launcher_is_never_launched_and_is_reported_failed_to_start(CancellationToken ct)
    {
        using var gate = new SemaphoreSlim(0);
        var forked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var held = new AgentLauncher(process =>
        {
            forked.Enqueue(process.StartInfo.Environment["SCHEDULER_JOB_ID"]!);
            if (forked.Count == 1)
            {
                gate.Wait(Deadline);
            }

            process.Start();
        });
        _cleanup.Add(new Disposing(held));
        var ledger = Path.Combine(_dir, "ledger");
        var leader = await StartMasterAsync(ct);
        leader.AfterRegistered =
        [
            new MasterCommand { Epoch = 1, Start = LedgerAgent("job-1", ledger) },
            new MasterCommand { Epoch = 1, Start = LedgerAgent("job-2", ledger) },
            new MasterCommand { Epoch = 1, Stop = new StopAgent { JobId = "job-2", Attempt = 1, Reason = "cancelled by user", GraceMs = 5000 } },
            new MasterCommand { Epoch = 1, FetchLogs = new FetchLogs { RequestId = "logs-1", JobId = "job-1", Attempt = 1 } },
        ];

        StartWorker("node-1", leader.Address.OriginalString, launcher: held);

        // Commands are obeyed in order: once the logs are answered, the stop has reached job-2, still queued.
        await Eventually.TrueAsync(() => leader.Received.Any(m => m.BodyCase == WorkerMessage.BodyOneofCase.Logs), "the logs request to be answered", Deadline);
        gate.Release();
        await Eventually.TrueAsync(() => AgentStates(leader, "job-2").Contains(AgentState.FailedToStart), "job-2 to be reported FAILED_TO_START", Deadline);
        await Eventually.TrueAsync(() => AgentStates(leader, "job-1").Contains(AgentState.Running), "job-1, queued before it, to run", Deadline);

        Assert.That(forked, Is.EqualTo(new[] { "job-1" }), "job-2 was never handed to fork");
        Assert.That(File.Exists(ledger) ? File.ReadAllLines(ledger) : [], Does.Not.Contain("job-2"), "its command never ran");
        Assert.That(AgentStates(leader, "job-2"), Has.None.EqualTo(AgentState.Running).And.None.EqualTo(AgentState.Exited));
    }

    private static StartAgent LedgerAgent(string jobId, string ledger)
    {
        var start = new StartAgent { JobId = jobId, Attempt = 1, Command = "/bin/sh" };
        start.Args.Add(["-c", $"echo {jobId} >> '{ledger}'; exec sleep 60"]);
        return start;
    }

    private static List<AgentState> AgentStates(FakeMaster master, string jobId) =>
        [.. master.Received.Where(m => m.BodyCase == WorkerMessage.BodyOneofCase.AgentEvent && m.AgentEvent.Agent.JobId == jobId).Select(m => m.AgentEvent.Agent.State)];

    private static IEnumerable<CommandRejected> Rejected(FakeMaster master) =>
        master.Received.Where(m => m.BodyCase == WorkerMessage.BodyOneofCase.CommandRejected).Select(m => m.CommandRejected);

    private static async Task<Exception> CatchAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception ex)
        {
            return ex;
        }

        throw new AssertionException("expected the call to fail");
    }

    /// <summary>Time from the first to the <paramref name="count"/>th attempt, measured where they arrive.</summary>
    private static TimeSpan Span(IEnumerable<long> attemptTimes, int count)
    {
        var times = attemptTimes.Order().Take(count).ToList();
        return Stopwatch.GetElapsedTime(times[0], times[^1]);
    }

    private async Task<FakeMaster> StartMasterAsync(CancellationToken ct)
    {
        var master = await FakeMaster.StartAsync(ct);
        _cleanup.Add(master);
        return master;
    }

    private Worker StartWorker(string nodeId, string masters, AgentCgroups? cgroups = null, MasterConnections? connections = null, AgentLauncher? launcher = null, RegistrationGate? registrations = null)
    {
        var dataDir = Path.Combine(_dir, nodeId);
        Directory.CreateDirectory(dataDir);
        var options = new WorkerOptions { Master = masters, NodeId = nodeId, DataDir = dataDir, MaxReconnectDelayMs = 2000, StopGraceMs = 0 };
        var identity = new WorkerIdentity(nodeId, dataDir, 1000, 1024, new Dictionary<string, string>());
        var agents = new AgentSupervisor(dataDir, nodeId, launcher ?? _launcher, TimeProvider.System, NullLogger.Instance);
        var link = new MasterLink(identity, new NoGpuProbe(), agents, options, TimeProvider.System, NullLogger.Instance, cgroups: cgroups) { Connections = connections, Registrations = registrations };
        var stop = new CancellationTokenSource();
        var run = link.RunAsync(stop.Token);
        var worker = new Worker(stop, run);
        _cleanup.Add(worker);
        return worker;
    }

    private sealed class Worker(CancellationTokenSource stop, Task run) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(15));
            stop.Dispose();
        }
    }

    /// <summary>Disposed in the tear-down's order: after the workers that use it.</summary>
    private sealed class Disposing(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
