using Scheduler.Contracts.V1;

namespace Scheduler.Master.Tests;

/// <summary>Which lost attempts use a retry: only those whose agent was reported running (a STARTING report is not).</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class LostStartRetryTests
{
    [Test]
    public async Task An_agent_fenced_after_it_ran_uses_a_retry_even_if_its_running_report_was_never_stored()
    {
        // The agent ran (exit code 137 after the worker's fencing killed it), but its "running" report
        // never reached the store (the worker lost the master first, or its group write failed). It did
        // run, so losing it must use a retry; otherwise a job that takes its worker's link down every
        // time it runs is requeued forever, max_retries never reached.
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("fenced-after-running", gpus: 1);
        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(session).Count(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.EqualTo(1));

        var status = new AgentStatus { JobId = job.Id, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Fenced = true, Message = "fenced: no contact with the master" };
        harness.Send(session, new WorkerMessage { AgentEvent = new AgentEvent { Agent = status } });
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.Attempt, record.Requeues), Is.EqualTo((2, 1)), "requeued (and placed again); the agent ran: its loss uses a retry");
    }

    [Test]
    public async Task An_agent_fenced_after_it_ran_uses_a_retry_even_when_its_worker_reports_it_after_the_node_was_given_up()
    {
        // Cut off, the worker fences its agents before the master's dead-after passes, but can report them only
        // once it is back: by then the job was lost with its node, without using a retry (never stored running).
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 1);
        var job = await harness.SubmitAsync("fenced-then-given-up", gpus: 1);
        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(n1).Count(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.EqualTo(1));
        var n2 = await harness.ConnectAsync("n2", gpus: 1);

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n2);
        var lost = harness.Store.Jobs[job.Id];
        Assert.That((lost.Attempt, lost.NodeId, lost.Requeues), Is.EqualTo((2, "n2", 0)), "lost with n1 and placed again, no retry used yet");

        var fenced = new AgentStatus { JobId = job.Id, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Fenced = true, Message = "fenced: no contact with the master" };
        var back = await harness.ConnectAsync("n1", 1, fenced);
        await harness.SettleAsync();
        harness.Send(back, new WorkerMessage { AgentEvent = new AgentEvent { Agent = fenced } });
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.Attempt, record.State, record.Requeues), Is.EqualTo((2, JobState.Assigned, 1)), "the rerun goes on; attempt 1 ran, so its loss uses a retry, once");
    }

    [Test]
    public async Task A_fenced_exit_reported_to_the_next_leader_after_the_node_was_given_up_uses_the_retry_once()
    {
        // The loss without a retry is stored (LostAttemptUncounted); the leader that loads it charges the late report.
        var store = new MemoryStore();
        string jobId;
        await using (var before = await LoopHarness.StartAsync(store: store))
        {
            var n1 = await before.ConnectAsync("n1", gpus: 1);
            var job = await before.SubmitAsync("fenced-across-a-takeover", gpus: 1);
            jobId = job.Id;
            await before.SettleAsync();
            LoopHarness.Drain(n1);
            var n2 = await before.ConnectAsync("n2", gpus: 1);
            await before.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n2);
            Assert.That((store.Jobs[jobId].Attempt, store.Jobs[jobId].NodeId, store.Jobs[jobId].Requeues), Is.EqualTo((2, "n2", 0)));
        }

        await using var after = await LoopHarness.StartAsync(store: store);
        var rerun = new AgentStatus { JobId = jobId, Attempt = 2, State = AgentState.Running, Pid = 42 };
        await after.ConnectAsync("n2", 1, rerun);
        var fenced = new AgentStatus { JobId = jobId, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Fenced = true, Message = "fenced: no contact with the master" };
        var back = await after.ConnectAsync("n1", 1, fenced);
        await after.SettleAsync();
        after.Send(back, new WorkerMessage { AgentEvent = new AgentEvent { Agent = fenced } });
        await after.SettleAsync();

        var record = store.Jobs[jobId];
        Assert.That((record.Attempt, record.NodeId, record.State, record.Requeues), Is.EqualTo((2, "n2", JobState.Running, 1)), "the rerun goes on; attempt 1's loss uses a retry, once");
    }

    [Test]
    public async Task An_agent_its_worker_stopped_for_its_own_shutdown_uses_no_retry_even_when_reported_fenced_after_the_node_was_given_up()
    {
        // The worker was shutting down (its agents stopped by the host) and lost the master during the grace, so
        // the agent is reported fenced too. Reported in time, a host stop wins (requeued, no retry); reported
        // after its node was given up, the same report must not use the retry its loss did not.
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 1);
        var job = await harness.SubmitAsync("host-stopped-then-given-up", gpus: 1);
        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(n1).Count(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.EqualTo(1));
        var n2 = await harness.ConnectAsync("n2", gpus: 1);

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15), n2);
        Assert.That(harness.Store.Jobs[job.Id].Requeues, Is.EqualTo(0), "lost with n1, no retry used yet");

        var stopped = new AgentStatus { JobId = job.Id, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Fenced = true, HostStop = true, Message = "n1 is shutting down" };
        var back = await harness.ConnectAsync("n1", 1, stopped);
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.Attempt, record.State, record.Requeues), Is.EqualTo((2, JobState.Assigned, 0)), "stopped by its host: no retry, late or not");
        Assert.That(LoopHarness.Drain(back).Any(c => c.BodyCase == MasterCommand.BodyOneofCase.AckExit && c.AckExit.Attempt == 1), Is.True, "its exit is acknowledged");
    }

    [Test]
    public async Task A_gang_replica_fenced_after_it_ran_uses_one_retry_even_if_no_replica_was_stored_running()
    {
        // The same per replica: rank 0 ran and was fenced before any RUNNING report was stored; rank 1,
        // stopped while its start still waited for its worker's launcher, was never launched (FAILED_TO_START).
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var job = await GangLoopTests.SubmitGangAsync(harness, "g-fenced", replicas: 2, gpus: 1);
        await harness.SettleAsync();
        var starts = GangLoopTests.Starts(n1);
        Assert.That(starts, Has.Count.EqualTo(2));

        var fenced = new AgentStatus { JobId = starts[0].Start.JobId, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Fenced = true, Message = "fenced: no contact with the master" };
        harness.Send(n1, new WorkerMessage { AgentEvent = new AgentEvent { Agent = fenced } });
        await harness.SettleAsync();
        var stop = GangLoopTests.Commands(MasterCommand.BodyOneofCase.Stop, n1).Single().Command.Stop;
        Assert.That(stop.JobId, Is.EqualTo(starts[1].Start.JobId), "the other replica is stopped");

        harness.Report(n1, stop.JobId, 1, AgentState.FailedToStart);
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.Attempt, record.Requeues), Is.EqualTo((2, 1)), "requeued whole (and placed again), one retry used");
    }

    [Test]
    public async Task A_start_refused_as_stale_uses_no_retry()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("refused", gpus: 1);
        await harness.SettleAsync();
        LoopHarness.Drain(session);

        var status = new AgentStatus { JobId = job.Id, Attempt = 1, State = AgentState.FailedToStart, Fenced = true, Message = "the start may be stale" };
        harness.Send(session, new WorkerMessage { AgentEvent = new AgentEvent { Agent = status } });
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.Attempt, record.Requeues), Is.EqualTo((2, 0)), "requeued (and placed again); never ran: no retry used");
    }

    [Test]
    public async Task An_agent_reported_starting_is_not_stored_as_running_and_its_loss_uses_no_retry()
    {
        // A start waiting for the worker's shared launcher (6d8de25: the stream reads on meanwhile) is
        // in every heartbeat as STARTING. Taken as "started", the job was stored RUNNING, so losing it
        // with a broken stream used a retry (LossCountsAsRetry) for a process that never ran.
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("starting", gpus: 1);
        await harness.SettleAsync();
        LoopHarness.Drain(session);

        harness.Report(session, job.Id, 1, AgentState.Starting);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Assigned), "not running before its process runs");

        harness.Report(session, job.Id, 1, AgentState.Running);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
    }

    [Test]
    public async Task A_gang_replica_reported_starting_is_not_stored_as_running()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 2);
        var job = await GangLoopTests.SubmitGangAsync(harness, "g-starting", replicas: 2, gpus: 1);
        await harness.SettleAsync();
        var starts = GangLoopTests.Starts(n1);
        Assert.That(starts, Has.Count.EqualTo(2));
        var before = harness.Store.Jobs[job.Id].Replicas.Select(r => r.Phase).ToList();

        harness.Report(n1, starts[0].Start.JobId, 1, AgentState.Starting);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].Replicas.Select(r => r.Phase), Is.EqualTo(before), "STARTING changes no replica");

        harness.Report(n1, starts[0].Start.JobId, 1, AgentState.Running);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].Replicas.Select(r => r.Phase), Is.Not.EqualTo(before), "RUNNING does");
    }
}
