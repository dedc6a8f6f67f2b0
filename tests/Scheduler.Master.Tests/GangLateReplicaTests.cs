using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using static Scheduler.Master.Tests.GangLoopTests;

namespace Scheduler.Master.Tests;

/// <summary>
/// A gang replica heard of again after the master gave it up with its node (declared dead, the worker
/// then comes back): a still running one is stopped and holds its capacity until it exits, so the gang
/// is not placed again meanwhile; an exit is recorded, and when the whole given-up attempt exited 0 by
/// itself it is the gang's success, so the gang never does its work twice.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GangLateReplicaTests
{
    [Test]
    public async Task A_gang_given_up_with_its_node_whose_replicas_all_exited_0_meanwhile_succeeds_and_is_not_run_again()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var job = await SubmitGangAsync(harness, "g1", replicas: 2, gpus: 1);
        await harness.SettleAsync();
        var starts = Starts(n1);
        Assert.That(starts, Has.Count.EqualTo(2), "both replicas on the one node");
        foreach (var (session, start) in starts)
        {
            harness.Report(session, start.JobId, 1, AgentState.Running);
        }

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));
        var given = harness.Store.Jobs[job.Id];
        Assert.That((given.State, given.Requeues), Is.EqualTo((JobState.Pending, 1)), "the dead node's gang is requeued");

        var back = await harness.ConnectAsync("n1", 2, [.. starts.Select(s => Exited(s.Start.JobId, 1, 0))]);
        await harness.SettleAsync();

        var done = harness.Store.Jobs[job.Id];
        Assert.That((done.State, done.ExitCode, done.HoldsAllocation), Is.EqualTo((JobState.Succeeded, 0, false)));
        Assert.That(done.Replicas.Select(r => (r.Phase, r.ExitCode)), Is.EqualTo(new[] { (ReplicaPhase.Exited, (int?)0), (ReplicaPhase.Exited, (int?)0) }), "each late exit is recorded");
        var commands = LoopHarness.Drain(back);
        Assert.That(commands.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "the gang's work is not done a second time");
        Assert.That(commands.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.AckExit).Select(c => c.AckExit.JobId), Is.EquivalentTo(starts.Select(s => s.Start.JobId)));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(2));
    }

    [Test]
    public async Task A_gang_placed_again_whose_given_up_attempt_then_reports_every_replica_exited_0_succeeds_and_its_rerun_is_stopped()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var (job, first) = await StartRunningGangAsync(harness, "g1", replicas: 2, gpus: 1, n1);

        await harness.SettleAsync();
        var n2 = await harness.ConnectAsync("n2", gpus: 2);
        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n2);
        var rerun = Starts(n2);
        Assert.That(rerun.Select(s => s.Start.Attempt), Is.EqualTo(new[] { 2, 2 }), "placed again on the live node");
        foreach (var (session, start) in rerun)
        {
            harness.Report(session, start.JobId, 2, AgentState.Running);
        }

        await harness.SettleAsync();
        var back = await harness.ConnectAsync("n1", 2, [.. first.Select(s => Exited(s.Start.JobId, 1, 0))]);
        await harness.SettleAsync();

        var ending = harness.Store.Jobs[job.Id];
        Assert.That((ending.State, ending.HoldsAllocation), Is.EqualTo((JobState.Succeeded, true)), "succeeded; the rerun holds until it has stopped");
        Assert.That(ending.LostReplicas.Select(r => (r.Phase, r.ExitCode)), Is.EqualTo(new[] { (ReplicaPhase.Exited, (int?)0), (ReplicaPhase.Exited, (int?)0) }));
        var stops = Commands(MasterCommand.BodyOneofCase.Stop, n2);
        Assert.That(stops.Select(s => (s.Command.Stop.JobId, s.Command.Stop.Attempt)), Is.EquivalentTo(rerun.Select(s => (s.Start.JobId, 2))), "the rerun is stopped");
        Assert.That(Starts(back), Is.Empty);

        foreach (var (session, start) in rerun)
        {
            harness.Report(session, start.JobId, 2, AgentState.Exited, exitCode: 143);
        }

        await harness.SettleAsync();
        var done = harness.Store.Jobs[job.Id];
        Assert.That((done.State, done.ExitCode, done.HoldsAllocation), Is.EqualTo((JobState.Succeeded, 0, false)));
        Assert.That(Starts(n2, back), Is.Empty, "nothing runs a third time");
        Assert.That(harness.Loop.View.Nodes.Values.Sum(n => n.Free.Gpus), Is.EqualTo(4));
    }

    [Test]
    public async Task A_replica_still_running_when_its_given_up_node_comes_back_is_stopped_and_the_gang_waits_for_its_exit()
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
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Pending), "requeued; one node alone cannot take it");
        LoopHarness.Drain(n1);

        var back = await harness.ConnectAsync("n2", 2, new AgentStatus { JobId = onN2, Attempt = 1, State = AgentState.Running });
        await harness.SettleAsync();

        var waiting = harness.Store.Jobs[job.Id];
        Assert.That(Commands(MasterCommand.BodyOneofCase.Stop, back).Select(s => (s.Command.Stop.JobId, s.Command.Stop.Attempt)), Is.EqualTo(new[] { (onN2, 1) }), "the replica still running is stopped");
        Assert.That(Starts(n1, back), Is.Empty, "the gang is not placed again while a replica of its attempt runs, though both nodes could hold it");
        Assert.That((waiting.HoldsAllocation, waiting.Requeues), Is.EqualTo((true, 1)), "it holds its capacity again; no second retry");
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.Zero);

        harness.Report(back, onN2, 1, AgentState.Exited, exitCode: 143);
        await harness.SettleAsync();

        var recorded = harness.Store.Jobs[job.Id];
        Assert.That(recorded.Requeues, Is.EqualTo(1));
        var again = Starts(n1, back);
        Assert.That(again.Select(s => (s.Start.Gang.Rank, s.Start.Attempt)), Is.EquivalentTo(new[] { (0, 2), (1, 2) }), "placed again, whole, once it has exited");
        Assert.That(
            harness.Store.Writes.Any(w => w.Any(j => j.Id == job.Id && j.Attempt == 1 && j.State == JobState.Pending
                && j.Replicas.Any(r => r.NodeId == "n2" && r.Phase == ReplicaPhase.Exited && r.ExitCode == 143 && r.Stopped))),
            Is.True,
            "its exit is recorded (stopped, 143) on the attempt it belonged to before the gang was placed again");
    }
}
