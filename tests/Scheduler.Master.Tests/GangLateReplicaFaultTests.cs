using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using static Scheduler.Master.Tests.GangLoopTests;

namespace Scheduler.Master.Tests;

/// <summary>
/// Late gang replicas under faults: an exit the master caused (it had told the replica to stop) is no
/// evidence the gang did its work, however the report reaches the master; and a stop the master owes an
/// adopted replica is not lost with the stream it was sent on.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GangLateReplicaFaultTests
{
    [Test]
    public async Task A_gang_whose_node_is_lost_while_its_replicas_are_being_stopped_does_not_succeed_from_their_exit_0()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var (job, starts) = await StartRunningGangAsync(harness, "g1", replicas: 2, gpus: 1, n1);

        await harness.SettleAsync();
        await harness.Loop.AskAsync<Node>(r => new ChangeNode("n1", NodeOperation.Drain, "maintenance", r), CancellationToken.None);
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, n1), Has.Count.EqualTo(2), "the drain stops both replicas");

        // The stops reach the agents, which exit 0 on SIGTERM, but n1 is cut off before it reports that.
        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Pending));

        await harness.ConnectAsync("n1", 2, [.. starts.Select(s => Exited(s.Start.JobId, 1, 0))]);
        await harness.SettleAsync();

        Assert.That(harness.Store.Jobs[job.Id].State, Is.Not.EqualTo(JobState.Succeeded), "both replicas were stopped by the drain: their exit 0 says nothing of the gang's work");
    }

    [Test]
    public async Task A_given_up_replica_the_master_stops_after_the_gang_runs_again_does_not_end_the_rerun_with_its_exit_0()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var (job, first) = await StartRunningGangAsync(harness, "g1", replicas: 2, gpus: 1, n1);

        await harness.SettleAsync();
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n2);
        var rerun = Starts(n2);
        Assert.That(rerun.Select(s => s.Start.Attempt), Is.EqualTo(new[] { 2, 2 }));
        foreach (var (session, start) in rerun)
        {
            harness.Report(session, start.JobId, 2, AgentState.Running);
        }

        await harness.SettleAsync();

        // n1 comes back before fencing its agents: the master stops them (attempt 1 is not current) ...
        var back = await harness.ConnectAsync("n1", 2, [.. first.Select(s => new AgentStatus { JobId = s.Start.JobId, Attempt = 1, State = AgentState.Running })]);
        await harness.SettleAsync();
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, back), Has.Count.EqualTo(2), "the stale replicas are stopped");

        // ... and they exit 0 on that SIGTERM.
        foreach (var (_, start) in first)
        {
            harness.Report(back, start.JobId, 1, AgentState.Exited, exitCode: 0);
        }

        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.State, record.Attempt), Is.EqualTo((JobState.Running, 2)), "attempt 1 was stopped by the master, not finished: the rerun goes on");
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, n2), Is.Empty, "the healthy rerun is not stopped");
    }

    [Test]
    public async Task An_adopted_replica_whose_stop_was_lost_with_its_stream_is_stopped_again_when_its_worker_reconnects()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        var (job, starts) = await StartRunningGangAsync(harness, "g1", replicas: 2, gpus: 2, n1, n2);

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n1);
        var onN1 = starts.Single(s => s.Session == n1).Start.JobId;
        var onN2 = starts.Single(s => s.Session == n2).Start.JobId;
        harness.Report(n1, onN1, 1, AgentState.Exited, exitCode: 143);
        await harness.SettleAsync();
        LoopHarness.Drain(n1);

        var running = new AgentStatus { JobId = onN2, Attempt = 1, State = AgentState.Running };
        var back = await harness.ConnectAsync("n2", 2, running);
        await harness.SettleAsync();
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, back), Has.Count.EqualTo(1), "adopted and stopped");

        // That stream breaks before the worker read the stop; it reconnects, the replica still running.
        var again = await harness.ConnectAsync("n2", 2, running);
        await harness.SettleAsync();

        Assert.That(harness.Store.Jobs[job.Id].HoldsAllocation, Is.True);
        Assert.That(
            Commands(MasterCommand.BodyOneofCase.Stop, again).Select(s => (s.Command.Stop.JobId, s.Command.Stop.Attempt)),
            Is.EqualTo(new[] { (onN2, 1) }),
            "the master still owes it a stop: without one the gang holds n2 and waits for as long as the replica runs");
    }

    [Test]
    public async Task A_new_leader_stops_again_a_replica_of_a_gang_the_old_one_was_stopping()
    {
        var store = new MemoryStore();
        string onN2;
        string jobId;
        await using (var before = await LoopHarness.StartAsync(store: store))
        {
            var n1 = await before.ConnectAsync("n1", gpus: 2);
            var n2 = await before.ConnectAsync("n2", gpus: 2);
            jobId = (await SubmitGangAsync(before, "g1", replicas: 2, gpus: 2)).Id;
            await before.SettleAsync();
            var starts = Starts(n1, n2);
            foreach (var (session, start) in starts)
            {
                before.Report(session, start.JobId, 1, AgentState.Running);
            }

            await before.SettleAsync();
            var onN1 = starts.Single(s => s.Session == n1).Start.JobId;
            onN2 = starts.Single(s => s.Session == n2).Start.JobId;

            // Rank on n1 fails: the gang breaks and the old leader stores that, but dies before n2 reads its stop.
            before.Report(n1, onN1, 1, AgentState.Exited, exitCode: 3);
            await before.SettleAsync();
        }

        Assert.That(store.Jobs[jobId].RequeueOnExit, Is.True, "stored as being stopped");
        await using var after = await LoopHarness.StartAsync(store: store);
        await after.ConnectAsync("n1", 2);
        var back = await after.ConnectAsync("n2", 2, new AgentStatus { JobId = onN2, Attempt = 1, State = AgentState.Running });
        await after.SettleAsync();

        Assert.That(
            Commands(MasterCommand.BodyOneofCase.Stop, back).Select(s => (s.Command.Stop.JobId, s.Command.Stop.Attempt)),
            Is.EqualTo(new[] { (onN2, 1) }),
            "without the stop the gang holds n2 for as long as the replica runs, and is never placed again");
    }
}
