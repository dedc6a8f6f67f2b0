using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Tests;

/// <summary>The loop when its store refuses writes: decide, persist, then apply — never memory ahead of the store.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SchedulerLoopTests
{
    [Test]
    public async Task A_refused_placement_write_dispatches_nothing_leaks_no_capacity_and_is_retried()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        harness.Store.FailJobWrites = jobs => jobs.Any(j => j.State == JobState.Assigned);

        var job = await harness.SubmitAsync("r1", gpus: 4);
        await harness.SettleAsync();

        Assert.That(harness.Store.FailedWrites, Is.GreaterThan(0), "the pass tried to place it");
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "nothing is dispatched that the store does not hold");
        Assert.That(harness.Loop.View.Jobs[job.Id].State, Is.EqualTo(JobState.Pending));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(4), "the pass's in-memory placement was undone");

        harness.Store.FailJobWrites = _ => false;
        harness.Time.Advance(TimeSpan.FromSeconds(2));

        var start = await LoopHarness.NextAsync(session);
        Assert.That(start.BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.Start));
        Assert.That((start.Start.JobId, start.Start.Attempt), Is.EqualTo((job.Id, 1)));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Assigned));
    }

    [Test]
    public async Task A_refused_exit_write_keeps_the_capacity_held_until_the_exit_is_stored()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("r1", gpus: 4);
        var start = await LoopHarness.NextAsync(session);
        harness.Report(session, job.Id, start.Start.Attempt, AgentState.Running);
        harness.Store.FailJobWrites = jobs => jobs.Any(j => j.State == JobState.Succeeded);

        harness.Report(session, job.Id, start.Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();

        Assert.That(harness.Loop.View.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.Zero, "an exit the store does not hold frees nothing");
        var second = await harness.SubmitAsync("r2", gpus: 4);
        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Jobs[second.Id].State, Is.EqualTo(JobState.Pending), "no second job squeezed onto the same GPUs");

        harness.Store.FailJobWrites = _ => false;
        harness.Report(session, job.Id, start.Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();

        Assert.That(harness.Loop.View.Jobs[job.Id].State, Is.EqualTo(JobState.Succeeded));
        var next = LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start).ToList();
        Assert.That(next.Select(c => c.Start.JobId), Is.EqualTo(new[] { second.Id }), "the GPUs went to the waiting job once the exit was stored");
    }

    [Test]
    public async Task A_submit_the_store_refuses_is_unavailable_and_stores_nothing()
    {
        await using var harness = await LoopHarness.StartAsync();
        harness.Store.FailJobWrites = _ => true;

        Grpc.Core.RpcException? error = null;
        try
        {
            await harness.SubmitAsync("r1");
        }
        catch (Grpc.Core.RpcException ex)
        {
            error = ex;
        }

        Assert.That(error?.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Unavailable), "a refused store write is retryable");

        Assert.That(harness.Store.Jobs, Is.Empty);
        harness.Store.FailJobWrites = _ => false;
        Assert.That((await harness.SubmitAsync("r1")).Id, Is.EqualTo("j-000001"), "the refused submit used up no id and stored nothing");
    }

    [Test]
    public async Task An_unexpected_failure_inside_the_loop_reaches_the_client_without_its_internals()
    {
        await using var harness = await LoopHarness.StartAsync();
        harness.Store.FailJobWrites = _ => true;
        harness.Store.Failure = () => new InvalidOperationException("near \"jobs\": syntax error in /var/lib/secret/scheduler.db");

        Grpc.Core.RpcException? error = null;
        try
        {
            await harness.SubmitAsync("r1");
        }
        catch (Grpc.Core.RpcException ex)
        {
            error = ex;
        }

        Assert.That(error?.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Internal));
        Assert.That(error!.Status.Detail, Does.Not.Contain("secret").And.Not.Contain("syntax"));
        harness.Store.FailJobWrites = _ => false;
        Assert.That((await harness.SubmitAsync("r2")).Id, Is.EqualTo("j-000001"), "the loop lives on");
    }

    [Test]
    public async Task A_late_exit_0_of_a_given_up_attempt_ends_the_job_and_stops_its_rerun()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("r1", gpus: 4);
        var first = await LoopHarness.NextAsync(n1);
        harness.Report(n1, job.Id, 1, AgentState.Running);
        var n2 = await harness.ConnectAsync("n2", gpus: 4);

        // n1 falls silent past dead-after (10 s) while n2 keeps heartbeating.
        for (var i = 0; i < 6; i++)
        {
            harness.Heartbeat(n2);
            await harness.SettleAsync();
            harness.Time.Advance(TimeSpan.FromSeconds(2));
        }

        var rerun = await LoopHarness.NextAsync(n2);
        Assert.That((first.Start.Attempt, rerun.Start.Attempt), Is.EqualTo((1, 2)), "the job runs again on n2");

        // n1 comes back and reports that attempt 1 had finished with exit 0 meanwhile.
        var back = await harness.ConnectAsync("n1", 4, new AgentStatus { JobId = job.Id, Attempt = 1, State = AgentState.Exited, ExitCode = 0 });
        await harness.SettleAsync();

        var stop = LoopHarness.Drain(n2).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop);
        Assert.That((stop.Stop.JobId, stop.Stop.Attempt), Is.EqualTo((job.Id, 2)), "the rerun is stopped");
        Assert.That(LoopHarness.Drain(back).Any(c => c.BodyCase == MasterCommand.BodyOneofCase.AckExit && c.AckExit.Attempt == 1), Is.True);
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Succeeded));
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.Zero, "the rerun holds its GPUs until it has stopped");

        harness.Report(n2, job.Id, 2, AgentState.Exited, exitCode: 137);
        await harness.SettleAsync();

        var done = harness.Store.Jobs[job.Id];
        Assert.That((done.State, done.ExitCode, done.HoldsAllocation), Is.EqualTo((JobState.Succeeded, 0, false)));
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.EqualTo(4));
    }

    [Test]
    public async Task A_write_refused_because_another_master_leads_ends_the_term_and_dispatches_nothing()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        harness.Store.Failure = () => new Scheduler.Master.Store.LeadershipLostException("leader key is another master's now");
        harness.Store.FailJobWrites = jobs => jobs.Any(j => j.State == JobState.Assigned);

        await harness.SubmitAsync("r1", gpus: 1);

        await harness.Loop.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(harness.Term.Ended.IsCancellationRequested, Is.True, "the term is over");
        Assert.That(harness.Term.EndReason, Does.Contain("another master"));
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "nothing dispatched under a lost term");
        Assert.That(harness.Store.Jobs.Values.Where(j => j.State == JobState.Assigned), Is.Empty);
        var late = await Assert.ThrowsAsync<RpcException>(() => harness.SubmitAsync("r2"));
        Assert.That(late!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "a call after the term ended is told to retry elsewhere");
    }

    [Test]
    public async Task A_master_whose_lease_lapsed_while_it_was_paused_withholds_the_commands_it_decided_before()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);

        // The store still takes the write (the lapse is not known there yet), but by its own clock
        // the master can no longer prove it leads: the start must not go out.
        harness.Lease.Expire();
        await harness.SubmitAsync("r1", gpus: 1);

        await harness.Loop.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(harness.Term.Ended.IsCancellationRequested, Is.True);
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty);
    }

    [Test]
    public async Task A_lease_lost_ends_the_term_and_closes_the_worker_streams()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);

        harness.Lease.Lose();

        await harness.Loop.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(harness.Term.EndReason, Does.Contain("lease"));
        Assert.That(session.Closed.IsCancellationRequested, Is.True, "the worker is sent off to find the new leader");
    }

    [Test]
    public async Task After_a_takeover_nothing_is_placed_until_the_known_workers_are_back_or_the_window_ends()
    {
        var store = new MemoryStore();
        await using (var first = await LoopHarness.StartAsync(store: store))
        {
            await first.ConnectAsync("n1", gpus: 4);
            await first.ConnectAsync("n2", gpus: 4);
        }

        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 5000 };
        await using var harness = await LoopHarness.StartAsync(options, store);
        var n1 = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("r1", gpus: 1);
        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(n1).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "n2 may still come back: no placement yet");

        for (var second = 0; second < 6; second++)
        {
            // n1 keeps beating; n2 stays away.
            harness.Heartbeat(n1);
            await harness.SettleAsync();
            harness.Time.Advance(TimeSpan.FromSeconds(1));
        }

        harness.Heartbeat(n1);
        var start = await LoopHarness.NextAsync(n1);
        Assert.That((start.BodyCase, start.Start.JobId), Is.EqualTo((MasterCommand.BodyOneofCase.Start, job.Id)), "the window is over: place on who is back");
    }

    [Test]
    public async Task After_a_takeover_placement_starts_as_soon_as_every_known_worker_is_back()
    {
        var store = new MemoryStore();
        await using (var first = await LoopHarness.StartAsync(store: store))
        {
            await first.ConnectAsync("n1", gpus: 4);
            await first.ConnectAsync("n2", gpus: 4);
        }

        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 60_000 };
        await using var harness = await LoopHarness.StartAsync(options, store);
        var job = await harness.SubmitAsync("r1", gpus: 4);
        var n1 = await harness.ConnectAsync("n1", gpus: 4);
        var n2 = await harness.ConnectAsync("n2", gpus: 4);
        await harness.SettleAsync();

        var starts = LoopHarness.Drain(n1).Concat(LoopHarness.Drain(n2)).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start).ToList();
        Assert.That(starts.Select(c => c.Start.JobId), Is.EqualTo(new[] { job.Id }), "no clock advanced: both workers back ends the window");
    }
    [Test]
    public async Task A_restarted_master_counts_a_known_node_silent_only_from_when_it_serves()
    {
        var store = new MemoryStore();
        string jobId;
        await using (var first = await LoopHarness.StartAsync(store: store))
        {
            var n1 = await first.ConnectAsync("n1", gpus: 4);
            jobId = (await first.SubmitAsync("r1", gpus: 1)).Id;
            var start = await LoopHarness.NextAsync(n1);
            first.Report(n1, jobId, start.Start.Attempt, AgentState.Running);
            await first.SettleAsync();
        }

        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 3000, ReconnectWindowMs = 3000 };
        await using var harness = await LoopHarness.StartAsync(options, store, serving: false);

        // A slow start: the store is loaded, but the server does not listen yet, for longer than dead-after.
        await harness.AdvanceAsync(TimeSpan.FromSeconds(5));
        Assert.That(harness.Store.Jobs[jobId].State, Is.EqualTo(JobState.Running), "no worker could have reached this master yet");

        harness.StartServing();
        await harness.SettleAsync();
        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));
        Assert.That(harness.Store.Jobs[jobId].State, Is.EqualTo(JobState.Running), "within dead-after of serving");

        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));
        Assert.That(harness.Store.Jobs[jobId].State, Is.EqualTo(JobState.Pending), "silent past dead-after once reachable: its job is requeued");
    }
}
