using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>Group commit: the submits of one batch are stored in one write, and nothing is answered or dispatched before its write.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GroupCommitTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Submits_arriving_in_one_batch_are_stored_in_one_write()
    {
        await using var harness = await LoopHarness.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held");
        await harness.Store.Holding.Task.WaitAsync(Wait);
        var before = harness.Store.Writes.Count;

        // The loop is held: these wait together and are taken as one batch.
        var batch = Enumerable.Range(0, 50).Select(i => harness.SubmitAsync($"b{i}")).ToArray();
        harness.Store.Hold = null;
        release.SetResult();
        var jobs = await Task.WhenAll(batch).WaitAsync(Wait);
        await held.WaitAsync(Wait);

        var writes = harness.Store.Writes.Skip(before + 1).Where(w => w.Any(j => j.RequestId.StartsWith('b'))).ToList();
        Assert.That(writes, Has.Count.EqualTo(1), "one transaction for the batch's submits");
        Assert.That(writes[0].Select(j => j.RequestId), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"b{i}")), "every submit of the batch, in order");
        Assert.That(jobs.Select(j => j.Id).Distinct().Count(), Is.EqualTo(50));
        Assert.That(jobs.Select(j => j.Id), Is.All.Matches<string>(id => harness.Store.Jobs.ContainsKey(id!)), "every answered job is stored");
    }

    [Test]
    public async Task A_request_id_repeated_within_a_batch_makes_one_job()
    {
        await using var harness = await LoopHarness.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held");
        await harness.Store.Holding.Task.WaitAsync(Wait);

        var first = harness.SubmitAsServedAsync("twice");
        var second = harness.SubmitAsServedAsync("twice");
        harness.Store.Hold = null;
        release.SetResult();
        await held.WaitAsync(Wait);

        var (one, two) = (await first.WaitAsync(Wait), await second.WaitAsync(Wait));
        Assert.That((one.Created, two.Created, two.Job.Id), Is.EqualTo((true, false, one.Job.Id)));
        Assert.That(harness.Store.Jobs.Values.Count(j => j.RequestId == "twice"), Is.EqualTo(1));
    }

    [Test]
    public async Task A_failed_group_write_answers_every_caller_and_changes_nothing()
    {
        await using var harness = await LoopHarness.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held");
        await harness.Store.Holding.Task.WaitAsync(Wait);

        var batch = Enumerable.Range(0, 5).Select(i => harness.SubmitAsync($"f{i}")).ToArray();
        harness.Store.FailJobWrites = jobs => jobs.Any(j => j.RequestId.StartsWith('f'));
        harness.Store.Hold = null;
        release.SetResult();
        var heldJob = await held.WaitAsync(Wait);

        foreach (var call in batch)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Wait));
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "the store refused the write: retry later");
        }

        await harness.SettleAsync();
        Assert.That(harness.Store.FailedWrites, Is.EqualTo(1), "one write for the group, refused once");
        Assert.That(harness.Loop.View.Jobs.Keys, Is.EquivalentTo(new[] { heldJob.Id }), "the view holds none of the refused group");
        Assert.That(harness.Loop.Feed.Current.History.TryGet("j-000002", out _), Is.False, "nor does the job feed");

        harness.Store.FailJobWrites = _ => false;
        var next = await harness.SubmitAsync("f0");
        Assert.That(next.Id, Is.EqualTo("j-000002"), "the refused group's numbers were not used");
    }

    [Test]
    public async Task A_placement_reaches_the_worker_only_once_its_write_is_stored()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task, jobs => jobs.Any(j => j.State == JobState.Assigned));

        var job = await harness.SubmitAsync("placed", gpus: 1);
        await harness.Store.Holding.Task.WaitAsync(Wait);

        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "no start while the placement is not stored");
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Pending));

        release.SetResult();
        var start = await LoopHarness.NextAsync(session);
        Assert.That((start.BodyCase, start.Start.JobId), Is.EqualTo((MasterCommand.BodyOneofCase.Start, job.Id)));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Assigned), "stored before it was sent");
    }

    [Test]
    public async Task A_group_write_the_store_may_have_applied_ends_the_term_and_a_retry_under_the_next_is_stored_once()
    {
        // etcd did not answer in time, but committed: the term cannot know what the store holds.
        var store = new MemoryStore();
        await using (var first = await LoopHarness.StartAsync(store: store))
        {
            store.ApplyBeforeFailing = true;
            store.Failure = () => new StoreUnavailableException("etcd did not answer the write in time") { MayHaveApplied = true };
            store.FailJobWrites = jobs => jobs.Any(j => j.RequestId == "maybe");

            var error = await Assert.ThrowsAsync<RpcException>(() => first.SubmitAsServedAsync("maybe").WaitAsync(Wait));
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "the caller is told to retry");
            Assert.That(first.Term.EndReason, Is.Not.Null, "the term ended: its memory may be behind the store");
            Assert.That(store.Jobs.Values.Count(j => j.RequestId == "maybe"), Is.EqualTo(1), "the store did apply the write");
        }

        store.ApplyBeforeFailing = false;
        store.FailJobWrites = _ => false;
        await using var next = await LoopHarness.StartAsync(store: store);
        var retried = (await next.SubmitAsServedAsync("maybe")).Job;

        Assert.That(store.Jobs.Values.Where(j => j.RequestId == "maybe").Select(j => j.Id), Is.EqualTo(new[] { retried.Id }), "the retry is answered with the job the store holds, not stored again");
    }

    [Test]
    public async Task Agent_reports_arriving_in_one_batch_are_stored_in_one_write()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var jobs = new List<Job>();
        for (var i = 0; i < 4; i++)
        {
            jobs.Add(await harness.SubmitAsync($"r{i}", gpus: 1));
        }

        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(session).Count(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.EqualTo(4));

        // The loop is held on a submit's write: the four reports wait together and are taken as one batch.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held", gpus: 0);
        await harness.Store.Holding.Task.WaitAsync(Wait);
        var before = harness.Store.Writes.Count;
        foreach (var job in jobs)
        {
            harness.Report(session, job.Id, 1, AgentState.Running);
        }

        harness.Store.Hold = null;
        release.SetResult();
        await held.WaitAsync(Wait);
        await harness.SettleAsync();

        var running = harness.Store.Writes.Skip(before).Where(w => w.Any(j => j.State == JobState.Running)).ToList();
        Assert.That(running, Has.Count.EqualTo(1), "one transaction for the batch's reports");
        Assert.That(running[0].Select(j => j.Id), Is.EqualTo(jobs.Select(j => j.Id)), "every report of the batch, in order");
        Assert.That(jobs.Select(j => harness.Loop.View.Jobs[j.Id].State), Is.All.EqualTo(JobState.Running));
    }

    [Test]
    public async Task An_exit_is_acknowledged_only_once_its_write_is_stored()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("exits", gpus: 1);
        Assert.That((await LoopHarness.NextAsync(session)).BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.Start));
        harness.Report(session, job.Id, 1, AgentState.Running);
        await harness.SettleAsync();

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task, jobs => jobs.Any(j => j.State == JobState.Succeeded));
        harness.Report(session, job.Id, 1, AgentState.Exited, exitCode: 0);
        harness.Heartbeat(session);
        await harness.Store.Holding.Task.WaitAsync(Wait);

        Assert.That(LoopHarness.Drain(session).Select(c => c.BodyCase), Does.Not.Contain(MasterCommand.BodyOneofCase.AckExit), "no acknowledgement while the exit is not stored");
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));

        release.SetResult();
        var ack = await LoopHarness.NextAsync(session);
        Assert.That((ack.BodyCase, ack.AckExit.JobId), Is.EqualTo((MasterCommand.BodyOneofCase.AckExit, job.Id)));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Succeeded), "stored before it was acknowledged");
    }

    // A one-GPU node whose worker reported its one job running.
    private static async Task<(WorkerSession Session, Job Running)> OneRunningJobAsync(LoopHarness harness)
    {
        var session = await harness.ConnectAsync("n1", gpus: 1);
        var running = await harness.SubmitAsync("running", gpus: 1);
        await harness.SettleAsync();
        LoopHarness.Drain(session);
        harness.Report(session, running.Id, 1, AgentState.Running);
        return (session, running);
    }

    [Test]
    public async Task Cancels_arriving_in_one_batch_are_stored_in_one_write_and_a_running_job_is_stopped_after_it()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (session, running) = await OneRunningJobAsync(harness);
        var pending = new List<Job>();
        for (var i = 0; i < 20; i++)
        {
            pending.Add(await harness.SubmitAsync($"p{i}", gpus: 1));
        }

        await harness.SettleAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held", gpus: 0);
        await harness.Store.Holding.Task.WaitAsync(Wait);
        var before = harness.Store.Writes.Count;

        // The loop is held: these wait together and are taken as one batch.
        var cancels = pending.Prepend(running).Select(j => harness.CancelAsync(j.Id)).ToArray();
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop), Is.Empty, "no stop before the cancel is stored");
        harness.Store.Hold = null;
        release.SetResult();
        var answered = await Task.WhenAll(cancels).WaitAsync(Wait);
        await held.WaitAsync(Wait);

        var writes = harness.Store.Writes.Skip(before + 1).Where(w => w.Any(j => j.State == JobState.Cancelled)).ToList();
        Assert.That(writes, Has.Count.EqualTo(1), "one transaction for the batch's cancels");
        Assert.That(writes[0].Where(j => j.State == JobState.Cancelled).Select(j => j.Id), Is.EquivalentTo(answered.Select(j => j.Id)));
        Assert.That(answered.Select(j => j.State), Is.All.EqualTo(JobState.Cancelled));
        await harness.SettleAsync();
        var stops = LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop).Select(c => c.Stop.JobId);
        Assert.That(stops, Is.EqualTo(new[] { running.Id }), "the running job's agent is stopped once its cancel is stored");
    }

    [Test]
    public async Task A_cancel_whose_group_write_fails_is_answered_with_the_error_and_changes_nothing()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (session, running) = await OneRunningJobAsync(harness);
        var pending = await harness.SubmitAsync("pending", gpus: 1);
        await harness.SettleAsync();
        harness.Store.FailJobWrites = records => records.Any(j => j.State == JobState.Cancelled);

        foreach (var job in new[] { running, pending })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => harness.CancelAsync(job.Id).WaitAsync(Wait));
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "the store refused the write: retry later");
        }

        await harness.SettleAsync();
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop), Is.Empty, "no agent stopped for a cancel not stored");
        Assert.That((harness.Loop.View.Jobs[running.Id].State, harness.Loop.View.Jobs[pending.Id].State), Is.EqualTo((JobState.Running, JobState.Pending)));

        harness.Store.FailJobWrites = _ => false;
        Assert.That((await harness.CancelAsync(pending.Id)).State, Is.EqualTo(JobState.Cancelled), "the retry is stored");
        Assert.That(harness.Store.Jobs[pending.Id].State, Is.EqualTo(JobState.Cancelled));
    }

    [Test]
    public async Task A_failed_group_write_acknowledges_no_exit_and_the_report_again_is_stored()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var jobs = new[] { await harness.SubmitAsync("a", gpus: 1), await harness.SubmitAsync("b", gpus: 1) };
        await harness.SettleAsync();
        LoopHarness.Drain(session);
        foreach (var job in jobs)
        {
            harness.Report(session, job.Id, 1, AgentState.Running);
        }

        await harness.SettleAsync();
        harness.Store.FailJobWrites = records => records.Any(j => j.State == JobState.Succeeded);

        // Both exits and a submit in one group: the write fails, so none of them is acted on.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held", gpus: 0);
        await harness.Store.Holding.Task.WaitAsync(Wait);
        foreach (var job in jobs)
        {
            harness.Report(session, job.Id, 1, AgentState.Exited, exitCode: 0);
        }

        var grouped = harness.SubmitAsServedAsync("with-the-exits");
        harness.Store.Hold = null;
        release.SetResult();
        await held.WaitAsync(Wait);
        var error = await Assert.ThrowsAsync<RpcException>(() => grouped.WaitAsync(Wait));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        await harness.SettleAsync();

        Assert.That(LoopHarness.Drain(session).Select(c => c.BodyCase), Does.Not.Contain(MasterCommand.BodyOneofCase.AckExit), "an exit not stored is not acknowledged");
        Assert.That(jobs.Select(j => harness.Loop.View.Jobs[j.Id].State), Is.All.EqualTo(JobState.Running), "nothing of the failed group is current");
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(2), "their GPUs stay held");

        // The worker reports what was not acknowledged again (as its heartbeats do).
        harness.Store.FailJobWrites = _ => false;
        foreach (var job in jobs)
        {
            harness.Report(session, job.Id, 1, AgentState.Exited, exitCode: 0);
        }

        await harness.SettleAsync();
        var acks = LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.AckExit).Select(c => c.AckExit.JobId).ToList();
        Assert.That(acks, Is.EquivalentTo(jobs.Select(j => j.Id)));
        Assert.That(jobs.Select(j => harness.Store.Jobs[j.Id].State), Is.All.EqualTo(JobState.Succeeded));
    }

    [Test]
    public async Task Two_reports_of_one_job_in_a_batch_are_decided_in_order()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("twice", gpus: 1);
        await harness.SettleAsync();
        LoopHarness.Drain(session);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsync("held", gpus: 0);
        await harness.Store.Holding.Task.WaitAsync(Wait);
        harness.Report(session, job.Id, 1, AgentState.Running);
        harness.Report(session, job.Id, 1, AgentState.Exited, exitCode: 0);
        harness.Store.Hold = null;
        release.SetResult();
        await held.WaitAsync(Wait);
        await harness.SettleAsync();

        var states = harness.Store.Writes.SelectMany(w => w).Where(j => j.Id == job.Id).Select(j => j.State).ToList();
        Assert.That(states, Is.EqualTo(new[] { JobState.Pending, JobState.Assigned, JobState.Running, JobState.Succeeded }));
        var done = harness.Store.Jobs[job.Id];
        Assert.That((done.State, done.StartedAt is not null), Is.EqualTo((JobState.Succeeded, true)));
    }

    [Test]
    public async Task A_batch_is_stored_in_one_write_and_answered_item_by_item_in_order()
    {
        await using var harness = await LoopHarness.StartAsync();
        var before = harness.Store.Writes.Count;

        var response = await harness.SubmitBatchAsync("x0", "x1", "x2", "x1");

        Assert.That(response.Items.Select(i => (i.Job.RequestId, i.Created)), Is.EqualTo(new[] { ("x0", true), ("x1", true), ("x2", true), ("x1", false) }));
        Assert.That(response.Items[3].Job.Id, Is.EqualTo(response.Items[1].Job.Id), "a request id repeated in the batch makes one job");
        var writes = harness.Store.Writes.Skip(before).Where(w => w.Any(j => j.RequestId.StartsWith('x'))).ToList();
        Assert.That(writes, Has.Count.EqualTo(1), "one write for the batch");
        Assert.That(writes[0].Select(j => j.RequestId), Is.EqualTo(new[] { "x0", "x1", "x2" }));

        var again = await harness.SubmitBatchAsync("x0", "x1", "x2");
        Assert.That(again.Items.Select(i => (i.Job.Id, i.Created)), Is.EqualTo(response.Items.Take(3).Select(i => (i.Job.Id, false))), "a retried batch is answered with the jobs it created");
    }

    [Test]
    public async Task A_batch_reusing_a_request_id_with_another_spec_is_refused_whole_naming_the_item()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.SubmitAsServedAsync("taken");
        var jobsBefore = harness.Store.Jobs.Count;

        var differs = LoopHarness.ServedSpec("taken");
        differs.Priority = 7;
        var error = await Assert.ThrowsAsync<RpcException>(() => harness.SubmitBatchAsync(("fresh", LoopHarness.ServedSpec("fresh")), ("taken", differs)));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Assert.That(error.Status.Detail, Does.StartWith("items[1].request_id"));
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs.Count, Is.EqualTo(jobsBefore), "nothing of the batch was stored");
        Assert.That(harness.Loop.View.Jobs.Values.Select(j => j.RequestId), Does.Not.Contain("fresh"));
    }

    [Test]
    public async Task A_batch_whose_write_fails_stores_none_of_it()
    {
        await using var harness = await LoopHarness.StartAsync();
        harness.Store.FailJobWrites = jobs => jobs.Any(j => j.RequestId == "y1");

        var error = await Assert.ThrowsAsync<RpcException>(() => harness.SubmitBatchAsync("y0", "y1", "y2"));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs.Values.Select(j => j.RequestId), Has.None.StartsWith("y"));
        Assert.That(harness.Loop.View.Jobs, Is.Empty);
    }
}
