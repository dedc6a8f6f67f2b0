using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>Gang jobs through the master's loop: placed whole, started together, stopped and requeued together.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GangLoopTests
{
    [Test]
    public async Task A_gang_is_placed_whole_in_one_store_write_and_every_replica_is_started_in_that_pass()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);

        var job = await SubmitGangAsync(harness, "g1", replicas: 3, gpus: 1);
        await harness.SettleAsync();

        var starts = Starts(n1, n2);
        Assert.That(starts.Select(s => s.Start.Gang.Rank), Is.EquivalentTo(new[] { 0, 1, 2 }));
        Assert.That(starts.Select(s => s.Start.JobId), Is.EquivalentTo(new[] { "j-000001-r0", "j-000001-r1", "j-000001-r2" }));
        Assert.That(starts.Select(s => (s.Start.Gang.JobId, s.Start.Gang.WorldSize, s.Start.Attempt)).Distinct(), Is.EqualTo(new[] { (job.Id, 3, 1) }));
        var peers = starts[0].Start.Gang.Peers.ToList();
        Assert.That(peers, Has.Count.EqualTo(3).And.Unique);
        Assert.That(starts.Select(s => string.Join(",", s.Start.Gang.Peers)).Distinct().Count(), Is.EqualTo(1), "every replica is told the same peers");
        Assert.That(starts.Select(s => s.Session).Distinct().Count(), Is.EqualTo(2), "three 1-GPU replicas need both 2-GPU nodes");

        var placingWrites = harness.Store.Writes.Where(w => w.Any(j => j.Id == job.Id && j.State == JobState.Assigned)).ToList();
        Assert.That(placingWrites, Has.Count.EqualTo(1), "one store write records the whole placement");
        var stored = placingWrites[0].Single(j => j.Id == job.Id);
        Assert.That(stored.Replicas.Select(r => (r.Rank, r.Holds)), Is.EqualTo(new[] { (0, true), (1, true), (2, true) }));
        Assert.That(stored.Replicas.Select(r => r.Address), Is.EqualTo(peers), "the peers are the stored addresses, by rank");
    }

    [Test]
    public async Task A_gang_that_cannot_fit_whole_holds_nothing_while_it_waits()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);

        var gang = await SubmitGangAsync(harness, "g1", replicas: 5, gpus: 1);
        var single = await harness.SubmitAsync("s1", gpus: 1);
        await harness.SettleAsync();

        var view = harness.Loop.View;
        Assert.That(view.Jobs[gang.Id].State, Is.EqualTo(JobState.Pending));
        Assert.That(view.Jobs[gang.Id].PendingReason, Does.Contain("gang"));
        Assert.That(view.Jobs[gang.Id].HoldsAllocation, Is.False);
        Assert.That(Starts(n1, n2).Select(s => s.Start.JobId), Is.EqualTo(new[] { single.Id }), "the waiting gang keeps nothing from the job behind it");
        Assert.That(view.Nodes.Values.Sum(n => n.Free.Gpus), Is.EqualTo(3));
    }

    [Test]
    public async Task One_replica_failing_stops_the_whole_gang_which_is_requeued_once_every_replica_has_stopped_and_then_succeeds()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var (job, first) = await StartRunningGangAsync(harness, "g1", replicas: 3, gpus: 1, n1, n2);

        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Jobs[job.Id].State, Is.EqualTo(JobState.Running), "running once every replica runs");

        var failing = first.Single(s => s.Start.Gang.Rank == 1);
        harness.Report(failing.Session, failing.Start.JobId, 1, AgentState.Exited, exitCode: 3);
        await harness.SettleAsync();

        var stops = Commands(MasterCommand.BodyOneofCase.Stop, n1, n2);
        Assert.That(stops.Select(s => s.Command.Stop.JobId), Is.EquivalentTo(new[] { "j-000001-r0", "j-000001-r2" }), "every other replica is stopped");
        foreach (var (session, stop) in stops)
        {
            Assert.That(session, Is.SameAs(first.Single(s => s.Start.JobId == stop.Stop.JobId).Session), "each stop goes to the replica's own node");
        }

        var stopping = harness.Store.Jobs[job.Id];
        Assert.That((stopping.Requeues, stopping.Replicas.Count(r => r.Holds)), Is.EqualTo((1, 2)), "one retry used; the others hold until they have stopped");

        harness.Report(stops[0].Session, stops[0].Command.Stop.JobId, 1, AgentState.Exited, exitCode: 143);
        await harness.SettleAsync();
        Assert.That(Starts(n1, n2), Is.Empty, "nothing starts again while a replica of the attempt may still run");

        harness.Report(stops[1].Session, stops[1].Command.Stop.JobId, 1, AgentState.Exited, exitCode: 143);
        await harness.SettleAsync();

        var second = Starts(n1, n2);
        Assert.That(second.Select(s => (s.Start.Gang.Rank, s.Start.Attempt)), Is.EquivalentTo(new[] { (0, 2), (1, 2), (2, 2) }), "the whole gang runs again, together");
        Assert.That(harness.Store.Jobs[job.Id].Requeues, Is.EqualTo(1));

        foreach (var (session, start) in second)
        {
            harness.Report(session, start.JobId, 2, AgentState.Running);
            harness.Report(session, start.JobId, 2, AgentState.Exited, exitCode: 0);
        }

        await harness.SettleAsync();
        var done = harness.Store.Jobs[job.Id];
        Assert.That((done.State, done.HoldsAllocation), Is.EqualTo((JobState.Succeeded, false)));
        Assert.That(harness.Loop.View.Nodes.Values.Sum(n => n.Free.Gpus), Is.EqualTo(4));
    }

    [Test]
    public async Task A_dead_node_requeues_the_whole_gang_and_stops_its_replica_on_the_live_node()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var (job, starts) = await StartRunningGangAsync(harness, "g1", replicas: 2, gpus: 2, n1, n2);

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n1);

        var onN1 = starts.Single(s => s.Session == n1).Start.JobId;
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, n1).Select(s => s.Command.Stop.JobId), Is.EqualTo(new[] { onN1 }));
        Assert.That(harness.Store.Jobs[job.Id].Replicas.Single(r => r.NodeId == "n2").Phase, Is.EqualTo(ReplicaPhase.Lost));

        harness.Report(n1, onN1, 1, AgentState.Exited, exitCode: 143);
        await harness.SettleAsync();

        var requeued = harness.Store.Jobs[job.Id];
        Assert.That((requeued.State, requeued.Requeues, requeued.HoldsAllocation), Is.EqualTo((JobState.Pending, 1, false)));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(2), "nothing of the gang is held while it waits (one node cannot take it)");
    }

    [Test]
    public async Task Cancelling_a_gang_stops_every_replica()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var job = await SubmitGangAsync(harness, "g1", replicas: 4, gpus: 1);
        await harness.SettleAsync();
        var starts = Starts(n1, n2);

        await harness.Loop.AskAsync<Job>(r => new CancelJob(job.Id, r), CancellationToken.None);
        await harness.SettleAsync();

        var stops = Commands(MasterCommand.BodyOneofCase.Stop, n1, n2);
        Assert.That(stops.Select(s => s.Command.Stop.JobId), Is.EquivalentTo(starts.Select(s => s.Start.JobId)));
        foreach (var (session, stop) in stops)
        {
            harness.Report(session, stop.Stop.JobId, 1, AgentState.Exited, exitCode: 143);
        }

        await harness.SettleAsync();
        Assert.That((harness.Store.Jobs[job.Id].State, harness.Store.Jobs[job.Id].HoldsAllocation), Is.EqualTo((JobState.Cancelled, false)));
        Assert.That(harness.Loop.View.Nodes.Values.Sum(n => n.Free.Gpus), Is.EqualTo(4));
    }

    [Test]
    public async Task Draining_a_node_requeues_the_whole_gang_without_using_a_retry()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var job = await SubmitGangAsync(harness, "g1", replicas: 2, gpus: 2);
        await harness.SettleAsync();
        var starts = Starts(n1, n2);

        await harness.Loop.AskAsync<Node>(r => new ChangeNode("n2", NodeOperation.Drain, "maintenance", r), CancellationToken.None);
        await harness.SettleAsync();

        var stops = Commands(MasterCommand.BodyOneofCase.Stop, n1, n2);
        Assert.That(stops.Select(s => s.Command.Stop.JobId), Is.EquivalentTo(starts.Select(s => s.Start.JobId)), "the replica on the kept node stops too");
        foreach (var (session, stop) in stops)
        {
            harness.Report(session, stop.Stop.JobId, 1, AgentState.Exited, exitCode: 143);
        }

        await harness.SettleAsync();
        var requeued = harness.Store.Jobs[job.Id];
        Assert.That((requeued.State, requeued.Requeues), Is.EqualTo((JobState.Pending, 0)));
    }

    [Test]
    public async Task A_gang_is_never_preempted_by_a_higher_priority_job()
    {
        await using var harness = await LoopHarness.StartAsync(new MasterOptions
        {
            HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, PreemptMinPriority = 500,
        });
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var gang = await SubmitGangAsync(harness, "g1", replicas: 2, gpus: 2);
        await harness.SettleAsync();
        foreach (var (session, start) in Starts(n1, n2))
        {
            harness.Report(session, start.JobId, 1, AgentState.Running);
        }

        var urgent = await harness.SubmitAsync("urgent", gpus: 2, priority: 900);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));

        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, n1, n2), Is.Empty, "no replica is evicted");
        Assert.That(harness.Loop.View.Jobs[gang.Id].State, Is.EqualTo(JobState.Running));
        Assert.That(harness.Loop.View.Jobs[urgent.Id].State, Is.EqualTo(JobState.Pending));
    }

    [Test]
    public async Task A_new_leader_keeps_a_gang_whose_workers_come_back_with_every_replica()
    {
        var store = new MemoryStore();
        string jobId;
        List<(WorkerSession Session, StartAgent Start)> starts;
        await using (var before = await LoopHarness.StartAsync(store: store))
        {
            var n1 = await before.ConnectAsync("n1", gpus: 2);
            var n2 = await before.ConnectAsync("n2", gpus: 2);
            jobId = (await SubmitGangAsync(before, "g1", replicas: 2, gpus: 2)).Id;
            await before.SettleAsync();
            starts = Starts(n1, n2);
            foreach (var (session, start) in starts)
            {
                before.Report(session, start.JobId, 1, AgentState.Running);
            }

            await before.SettleAsync();
        }

        await using var after = await LoopHarness.StartAsync(store: store);
        var back1 = await after.ConnectAsync("n1", 2, Running(starts, "n1"));
        var back2 = await after.ConnectAsync("n2", 2, Running(starts, "n2"));
        await after.SettleAsync();

        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, back1, back2), Is.Empty);
        Assert.That(Starts(back1, back2), Is.Empty, "nothing runs twice");
        var kept = after.Loop.View.Jobs[jobId];
        Assert.That((kept.State, kept.Attempt, kept.Replicas.All(r => r.Holds)), Is.EqualTo((JobState.Running, 1, true)));
        Assert.That(after.Loop.View.Nodes.Values.Sum(n => n.Free.Gpus), Is.Zero, "the new leader holds every replica's capacity again");
    }

    [Test]
    public async Task A_new_leader_requeues_a_gang_whose_worker_comes_back_without_its_replica()
    {
        var store = new MemoryStore();
        string jobId;
        List<(WorkerSession Session, StartAgent Start)> starts;
        await using (var before = await LoopHarness.StartAsync(store: store))
        {
            var n1 = await before.ConnectAsync("n1", gpus: 2);
            var n2 = await before.ConnectAsync("n2", gpus: 2);
            jobId = (await SubmitGangAsync(before, "g1", replicas: 2, gpus: 2)).Id;
            await before.SettleAsync();
            starts = Starts(n1, n2);
        }

        await using var after = await LoopHarness.StartAsync(store: store);
        var back1 = await after.ConnectAsync("n1", 2, Running(starts, "n1"));
        var back2 = await after.ConnectAsync("n2", 2);
        await after.SettleAsync();

        var stops = Commands(MasterCommand.BodyOneofCase.Stop, back1, back2);
        Assert.That(stops.Select(s => (s.Session, s.Command.Stop.JobId)), Is.EqualTo(new[] { (back1, starts.Single(s => s.Session.NodeId == "n1").Start.JobId) }));
        after.Report(back1, stops[0].Command.Stop.JobId, 1, AgentState.Exited, exitCode: 143);
        await after.SettleAsync();

        var again = Starts(back1, back2);
        Assert.That(again.Select(s => (s.Start.Gang.Rank, s.Start.Attempt)), Is.EquivalentTo(new[] { (0, 2), (1, 2) }), "requeued whole and placed again");
        Assert.That(after.Store.Jobs[jobId].Requeues, Is.EqualTo(1));
    }

    internal static async Task<Job> SubmitGangAsync(LoopHarness harness, string requestId, int replicas, int gpus, int priority = 0)
    {
        var spec = new JobSpec
        {
            Name = requestId,
            Command = "/bin/true",
            Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = gpus },
            Replicas = replicas,
            Priority = priority,
        };
        var reply = await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = requestId, Spec = spec }, r), CancellationToken.None);
        return reply.Job;
    }

    /// <summary>The start commands already queued on the sessions (other commands are dropped).</summary>
    /// <summary>Submits a gang, lets the loop place it, and reports every replica started on <paramref name="sessions"/> running: the gang and its starts.</summary>
    internal static async Task<(Job Job, List<(WorkerSession Session, StartAgent Start)> Starts)> StartRunningGangAsync(
        LoopHarness harness, string requestId, int replicas, int gpus, params WorkerSession[] sessions)
    {
        var job = await SubmitGangAsync(harness, requestId, replicas, gpus);
        await harness.SettleAsync();
        var starts = Starts(sessions);
        foreach (var (session, start) in starts)
        {
            harness.Report(session, start.JobId, 1, AgentState.Running);
        }

        return (job, starts);
    }

    /// <summary>An agent's report that it exited with <paramref name="code"/>.</summary>
    internal static AgentStatus Exited(string agentId, int attempt, int code) =>
        new() { JobId = agentId, Attempt = attempt, State = AgentState.Exited, ExitCode = code };

    internal static List<(WorkerSession Session, StartAgent Start)> Starts(params WorkerSession[] sessions) =>
        [.. Commands(MasterCommand.BodyOneofCase.Start, sessions).Select(c => (c.Session, c.Command.Start))];

    internal static List<(WorkerSession Session, MasterCommand Command)> Commands(MasterCommand.BodyOneofCase kind, params WorkerSession[] sessions) =>
        [.. sessions.SelectMany(s => LoopHarness.Drain(s).Where(c => c.BodyCase == kind).Select(c => (s, c)))];

    private static AgentStatus[] Running(List<(WorkerSession Session, StartAgent Start)> starts, string nodeId) =>
        [.. starts.Where(s => s.Session.NodeId == nodeId).Select(s => new AgentStatus { JobId = s.Start.JobId, Attempt = s.Start.Attempt, State = AgentState.Running })];
}
