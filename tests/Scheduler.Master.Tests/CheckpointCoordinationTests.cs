using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Workers;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// The master's side of stored checkpoints with fake worker sessions: suspend and resume, periodic
/// checkpoints replicated to a peer, restoring where the job is placed again (directly on a holder,
/// or after a holder ships it), and the copies dropped once nothing refers to them.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class CheckpointCoordinationTests
{
    [Test]
    public async Task Suspend_stores_the_checkpoint_on_the_node_and_a_peer_then_frees_the_gpus()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);

        var suspending = await harness.SuspendAsync(job.Id);

        Assert.That((suspending.State, suspending.CheckpointInProgress), Is.EqualTo((JobState.Running, "suspend")));
        Assert.That(harness.Store.Jobs[job.Id].Checkpointing?.Purpose, Is.EqualTo("suspend"), "stored before the worker is asked");
        var expectHere = Next(n1, MasterCommand.BodyOneofCase.ExpectMigration).ExpectMigration;
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        var expectPeer = Next(n2, MasterCommand.BodyOneofCase.ExpectMigration).ExpectMigration;
        Assert.That((command.JobId, command.Attempt, command.Stop), Is.EqualTo((job.Id, 1, true)));
        Assert.That(command.Targets.Select(t => t.NodeId), Is.EqualTo(new[] { "n1", "n2" }), "kept on its node and replicated to a peer");
        Assert.That(new[] { expectHere.MigrationId, expectPeer.MigrationId }, Is.All.EqualTo(command.CheckpointId));
        Assert.That(new[] { expectHere.Token, expectPeer.Token }, Is.All.EqualTo(command.Token));

        // The agent's exit (flagged: its state is stored) comes before the report and does not end the job.
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(3), "held until the checkpoint is reported stored");

        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();

        var suspended = harness.Store.Jobs[job.Id];
        Assert.That((suspended.State, suspended.HoldsAllocation), Is.EqualTo((JobState.Suspended, false)));
        Assert.That(suspended.Checkpointing, Is.Null);
        Assert.That(suspended.Checkpoint!.Id, Is.EqualTo(command.CheckpointId));
        Assert.That(suspended.Checkpoint.Nodes, Is.EqualTo(new[] { "n1", "n2" }));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(4), "its GPUs are free");
        Assert.That((await harness.SuspendAsync(job.Id)).State, Is.EqualTo(JobState.Suspended), "a retried suspend answers the same");
    }

    [Test]
    public async Task A_suspended_job_counts_as_unfinished_for_lists_and_watches()
    {
        await using var harness = await StartAsync();
        var (_, _, job, _) = await SuspendedAsync(harness);

        var unfinished = harness.Loop.Feed.Current.History.NewestFirst(long.MaxValue, unfinishedOnly: true).Select(j => j.Id);

        Assert.That(unfinished, Does.Contain(job.Id), "a watch starts with it, like any job not done");
    }

    [Test]
    public async Task Resumed_on_a_node_that_holds_the_checkpoint_it_starts_from_it_there()
    {
        await using var harness = await StartAsync();
        var (n1, _, job, checkpointId) = await SuspendedAsync(harness);

        var resumed = await harness.ResumeAsync(job.Id);

        Assert.That(resumed.State, Is.EqualTo(JobState.Pending));
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.JobId, start.Attempt, start.RestoreMigration, start.Checkpointable), Is.EqualTo((job.Id, 2, checkpointId, true)));
    }

    [Test]
    public async Task Resumed_elsewhere_a_holder_ships_the_checkpoint_first_and_the_start_follows_the_shipment()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job, checkpointId) = await SuspendedAsync(harness);

        // Only n3 has room now.
        var blocker1 = await harness.SubmitAsync("fill-n1", gpus: 4);
        var blocker2 = await harness.SubmitAsync("fill-n2", gpus: 4);
        Next(n1, MasterCommand.BodyOneofCase.Start);
        Next(n2, MasterCommand.BodyOneofCase.Start);
        var n3 = await harness.ConnectAsync("n3", 4, migratable: true);
        await harness.ResumeAsync(job.Id);

        var expect = Next(n3, MasterCommand.BodyOneofCase.ExpectMigration).ExpectMigration;
        var ship = Next(n1, MasterCommand.BodyOneofCase.ShipCheckpoint).ShipCheckpoint;
        Assert.That((ship.CheckpointId, ship.ShipmentId, ship.Token, ship.JobId, ship.Attempt), Is.EqualTo((checkpointId, expect.MigrationId, expect.Token, job.Id, 2)));
        Assert.That(ship.ShipmentId, Is.Not.EqualTo(checkpointId), "the copy on n3 has its own id, deleted when its attempt ends");
        await harness.SettleAsync();
        Assert.That(Drain(n3).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty, "nothing starts before the checkpoint is there");

        harness.Send(n1, new WorkerMessage { CheckpointReport = new CheckpointReport { CheckpointId = ship.ShipmentId, JobId = job.Id, Attempt = 2, Ok = true, Shipment = true, Bytes = 4096 } });

        var start = Next(n3, MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.Attempt, start.RestoreMigration), Is.EqualTo((2, ship.ShipmentId)));
        harness.Report(n3, job.Id, 2, AgentState.Running);
        harness.Report(n3, job.Id, 2, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();

        // Finished: its stored checkpoint and the shipped copy are deleted where they are kept.
        Assert.That(harness.Store.Jobs[job.Id].Checkpoint, Is.Null);
        Assert.That(Drops(n1), Does.Contain(checkpointId));
        Assert.That(Drops(n2), Does.Contain(checkpointId));
        Assert.That(Drops(n3), Does.Contain(ship.ShipmentId));
        Assert.That((blocker1.Id, blocker2.Id), Is.Not.EqualTo((job.Id, job.Id)));
    }

    [Test]
    public async Task A_failed_shipment_is_tried_from_the_next_holder()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job, checkpointId) = await SuspendedAsync(harness);
        await harness.SubmitAsync("fill-n1", gpus: 4);
        await harness.SubmitAsync("fill-n2", gpus: 4);
        Next(n1, MasterCommand.BodyOneofCase.Start);
        Next(n2, MasterCommand.BodyOneofCase.Start);
        var n3 = await harness.ConnectAsync("n3", 4, migratable: true);
        await harness.ResumeAsync(job.Id);
        Next(n3, MasterCommand.BodyOneofCase.ExpectMigration);
        var first = Next(n1, MasterCommand.BodyOneofCase.ShipCheckpoint).ShipCheckpoint;

        harness.Send(n1, new WorkerMessage { CheckpointReport = new CheckpointReport { CheckpointId = first.ShipmentId, JobId = job.Id, Attempt = 2, Ok = false, Shipment = true, Error = "disk full" } });

        Assert.That(Next(n3, MasterCommand.BodyOneofCase.CancelMigration).CancelMigration.MigrationId, Is.EqualTo(first.ShipmentId), "what the failed one left is dropped");
        Next(n3, MasterCommand.BodyOneofCase.ExpectMigration);
        var second = Next(n2, MasterCommand.BodyOneofCase.ShipCheckpoint).ShipCheckpoint;
        Assert.That((second.CheckpointId, second.ShipmentId == first.ShipmentId), Is.EqualTo((checkpointId, false)));
    }

    [Test]
    public async Task A_suspend_whose_checkpoint_fails_leaves_the_job_running_and_says_why()
    {
        await using var harness = await StartAsync();
        var (n1, _, job) = await RunningOnN1Async(harness);
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;

        harness.Send(n1, new WorkerMessage { CheckpointReport = new CheckpointReport { CheckpointId = command.CheckpointId, JobId = job.Id, Attempt = 1, Ok = false, Error = "the agent did not answer" } });
        await harness.SettleAsync();

        var running = harness.Store.Jobs[job.Id];
        Assert.That((running.State, running.HoldsAllocation), Is.EqualTo((JobState.Running, true)));
        Assert.That(running.Checkpointing, Is.Null);
        Assert.That(running.Checkpoint, Is.Null);
        Assert.That(running.Message, Is.EqualTo("suspend checkpoint failed: the agent did not answer"));
    }

    [Test]
    public async Task Jobs_that_cannot_be_suspended_or_resumed_are_refused_with_the_reason()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var plain = await harness.SubmitAsync("plain", gpus: 1);
        harness.Report(n1, plain.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        var notCheckpointable = await Assert.ThrowsAsync<RpcException>(() => harness.SuspendAsync(plain.Id));
        Assert.That((notCheckpointable!.StatusCode, notCheckpointable.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, $"job {plain.Id} is not checkpointable: it can be stopped and restarted, not suspended with its state")));
        var notSuspended = await Assert.ThrowsAsync<RpcException>(() => harness.ResumeAsync(plain.Id));
        Assert.That((notSuspended!.StatusCode, notSuspended.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, $"job {plain.Id} is RUNNING: only a suspended job can be resumed")));
        var unknown = await Assert.ThrowsAsync<RpcException>(() => harness.SuspendAsync("j-nope"));
        Assert.That(unknown!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }

    [Test]
    public async Task A_suspended_job_cancelled_is_cancelled_and_its_checkpoint_deleted()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job, checkpointId) = await SuspendedAsync(harness);

        var cancelled = await harness.Loop.AskAsync<Job>(r => new Scheduling.CancelJob(job.Id, r), CancellationToken.None);

        Assert.That(cancelled.State, Is.EqualTo(JobState.Cancelled));
        await harness.SettleAsync();
        Assert.That(Drops(n1), Does.Contain(checkpointId));
        Assert.That(Drops(n2), Does.Contain(checkpointId));
    }

    [Test]
    public async Task Periodic_checkpoints_replicate_to_a_peer_each_interval_and_replace_the_previous_one()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var n2 = await harness.ConnectAsync("n2", 4, migratable: true);
        var job = await harness.SubmitAsync("periodic", gpus: 1, checkpointable: true, checkpointIntervalS: 5);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4), n1, n2);
        Assert.That(Drain(n1).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.CheckpointAgent), Is.Empty, "not before the interval");

        await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), n1, n2);
        var first = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        Assert.That((first.Stop, first.Targets.Single().NodeId), Is.EqualTo((false, "n2")), "the agent runs on; the copy goes to another node");
        Assert.That(Next(n2, MasterCommand.BodyOneofCase.ExpectMigration).ExpectMigration.MigrationId, Is.EqualTo(first.CheckpointId));
        harness.Send(n1, Stored(first, "n2"));
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].Checkpoint?.Id, Is.EqualTo(first.CheckpointId));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));

        await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(6), n1, n2);
        var second = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        Next(n2, MasterCommand.BodyOneofCase.ExpectMigration);
        harness.Send(n1, Stored(second, "n2"));
        await harness.SettleAsync();

        Assert.That(harness.Store.Jobs[job.Id].Checkpoint?.Id, Is.EqualTo(second.CheckpointId));
        Assert.That(Drops(n2), Is.EqualTo(new[] { first.CheckpointId }), "the replaced checkpoint is deleted");
    }

    [Test]
    public async Task A_checkpoint_whose_report_never_comes_is_given_up_after_its_timeout_and_the_job_runs_on()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent);

        // The worker never answers (its agent is not seen stopped either): after five minutes the operation ends.
        await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(4), n1, n2);
        Assert.That(harness.Store.Jobs[job.Id].Checkpointing?.Purpose, Is.EqualTo("suspend"), "still waited for within its timeout");

        await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1.5), n1, n2);
        var stored = harness.Store.Jobs[job.Id];
        Assert.That((stored.State, stored.Checkpointing), Is.EqualTo((JobState.Running, (Scheduler.Master.Store.CheckpointOperation?)null)));
        Assert.That(stored.Message, Does.Contain("no report came"));
    }

    [Test]
    public async Task A_job_whose_node_dies_resumes_elsewhere_from_its_replicated_checkpoint()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var n2 = await harness.ConnectAsync("n2", 4, migratable: true);
        var job = await harness.SubmitAsync("periodic", gpus: 1, checkpointable: true, checkpointIntervalS: 2);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();
        await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3), n1, n2);
        var replica = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        harness.Send(n1, Stored(replica, "n2"));
        await harness.SettleAsync();

        // n1 falls silent past dead-after (10 s) while n2 keeps heartbeating.
        for (var i = 0; i < 7; i++)
        {
            await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(2), n2);
        }

        var start = Drain(n2).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.JobId, start.Attempt, start.RestoreMigration), Is.EqualTo((job.Id, 2, replica.CheckpointId)), "restarted on the replica's node, from the replica");
    }

    [Test]
    public async Task A_preemption_victim_no_node_can_take_live_is_checkpointed_requeued_and_resumes_from_it()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var victim = await harness.SubmitAsync("ckpt", gpus: 4, checkpointable: true, priority: 100);
        harness.Report(n1, victim.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        var n2 = await harness.ConnectAsync("n2", 1, migratable: true);
        await harness.SettleAsync();

        var urgent = await harness.SubmitAsync("urgent", gpus: 4, priority: 800);
        await harness.SettleAsync();

        var sent = Drain(n1);
        Assert.That(sent.Where(c => c.BodyCase is MasterCommand.BodyOneofCase.MigrateAgent or MasterCommand.BodyOneofCase.Stop), Is.Empty, "n2 cannot take it live, and it is not simply killed");
        var command = sent.Single(c => c.BodyCase == MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        Assert.That((command.JobId, command.Stop), Is.EqualTo((victim.Id, true)));
        Assert.That(command.Targets.Select(t => t.NodeId), Is.EqualTo(new[] { "n1", "n2" }));

        harness.Send(n1, Exit(victim.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        harness.Heartbeat(n1);
        harness.Heartbeat(n2);
        await harness.SettleAsync();

        var requeued = harness.Store.Jobs[victim.Id];
        Assert.That((requeued.State, requeued.Requeues, requeued.Checkpoint?.Id), Is.EqualTo((JobState.Pending, 0, command.CheckpointId)), "requeued without using a retry, with its state kept");
        Assert.That(harness.Store.Jobs[urgent.Id].NodeId, Is.EqualTo("n1"), "the preemptor got the room");

        // The preemptor ends: the victim resumes on n1, which holds its checkpoint.
        harness.Report(n1, urgent.Id, 1, AgentState.Running);
        harness.Report(n1, urgent.Id, 1, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();
        var resume = Drain(n1).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Start && c.Start.JobId == victim.Id).Start;
        Assert.That((resume.Attempt, resume.RestoreMigration), Is.EqualTo((2, command.CheckpointId)));
    }

    [Test]
    public async Task A_job_cancelled_while_its_checkpoint_is_shipped_is_cancelled_at_once_and_frees_the_target()
    {
        await using var harness = await StartAsync();
        var (n1, n3, job, ship) = await ShippingToN3Async(harness);

        var cancelled = await harness.Loop.AskAsync<Job>(r => new Scheduling.CancelJob(job.Id, r), CancellationToken.None);
        harness.Send(n1, Shipped(ship, ok: true));
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.State, record.HoldsAllocation), Is.EqualTo((JobState.Cancelled, false)), "no agent was started there, so none will report an exit");
        Assert.That(harness.Loop.View.Nodes["n3"].Free.Gpus, Is.EqualTo(4));
        var sent = Drain(n3);
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty);
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.CancelMigration).Select(c => c.CancelMigration.MigrationId), Does.Contain(ship.ShipmentId));
        Assert.That(cancelled.State, Is.EqualTo(JobState.Cancelled));
    }

    [Test]
    public async Task A_target_drained_while_the_checkpoint_is_shipped_gets_no_start_and_the_job_is_requeued()
    {
        await using var harness = await StartAsync();
        var (n1, n3, job, ship) = await ShippingToN3Async(harness);

        await harness.Loop.AskAsync<Node>(r => new Scheduling.ChangeNode("n3", Scheduling.NodeOperation.Drain, "maintenance", r), CancellationToken.None);
        harness.Send(n1, Shipped(ship, ok: true));
        await harness.SettleAsync();

        Assert.That(Drain(n3).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty);
        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.State, record.Requeues, record.Checkpoint?.Id), Is.EqualTo((JobState.Pending, 0, ship.CheckpointId)), "back in the queue with its checkpoint, no retry used");
    }

    [Test]
    public async Task A_holder_that_dies_while_shipping_does_not_leave_the_job_waiting_forever()
    {
        await using var harness = await StartAsync();
        var (_, n3, job, ship) = await ShippingToN3Async(harness, peer: false);

        // n1, the only holder, falls silent past dead-after (10 s) while n3 heartbeats.
        await harness.PassAsync(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(14), n3);

        var start = Drain(n3).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.JobId, start.Attempt, start.RestoreMigration), Is.EqualTo((job.Id, 2, "")), "started afresh rather than waiting for a dead holder");
        Assert.That(harness.Store.Jobs[job.Id].Message, Does.Contain("started afresh"));
        Assert.That(ship.CheckpointId, Is.Not.Empty);
    }

    [Test]
    public async Task A_stop_checkpoint_whose_report_is_lost_in_a_failover_requeues_the_job_once_its_agent_is_seen_gone()
    {
        var store = new MemoryStore();
        string jobId;
        await using (var first = await StartAsync(store))
        {
            var (_, _, job) = await RunningOnN1Async(first);
            jobId = job.Id;
            await first.SuspendAsync(job.Id);
        }

        // The new leader hears of the agent's exit (flagged: stopped for its checkpoint), never of the report.
        await using var leader = await StartAsync(store);
        var exited = new AgentStatus { JobId = jobId, Attempt = 1, State = AgentState.Exited, ExitCode = 137, Migrated = true };
        var n1 = await leader.ConnectAsync("n1", 4, migratable: true, exited);
        var n2 = await leader.ConnectAsync("n2", 4, migratable: true);
        await leader.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(70), n1, n2);

        var record = leader.Store.Jobs[jobId];
        Assert.That(record.Checkpointing, Is.Null);
        Assert.That((record.Attempt, record.Requeues), Is.EqualTo((2, 0)), "run again (no retry used), not left RUNNING with no agent");
    }

    [Test]
    public async Task A_job_drained_while_being_suspended_is_requeued_with_that_checkpoint()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;

        await harness.Loop.AskAsync<Node>(r => new Scheduling.ChangeNode("n1", Scheduling.NodeOperation.Drain, "maintenance", r), CancellationToken.None);
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That(record.Checkpoint?.Id, Is.EqualTo(command.CheckpointId), "its state is kept");
        Assert.That(record.Attempt == 2 || record.State == JobState.Pending, Is.True, $"requeued (now {record.State} attempt {record.Attempt}), not stuck on the drained node");
        Assert.That(record.NodeId == "n1" && record.HoldsAllocation, Is.False);
    }

    [Test]
    public async Task A_second_report_of_a_stored_checkpoint_does_not_delete_it()
    {
        await using var harness = await StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();
        Drain(n1);
        Drain(n2);

        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();

        Assert.That(Drops(n1).Concat(Drops(n2)), Does.Not.Contain(command.CheckpointId));
        Assert.That(harness.Store.Jobs[job.Id].Checkpoint?.Id, Is.EqualTo(command.CheckpointId));
    }

    [Test]
    public async Task A_resumed_start_stopped_before_its_worker_launched_it_keeps_its_checkpoint()
    {
        // Resumed on n1, the only holder of its checkpoint, then n1 is drained while the start still waits for
        // the worker's launcher: the worker drops it unlaunched and reports FAILED_TO_START (5779727). That is
        // the stop's outcome, not a checkpoint n1 could not restore: the copy on n1 stays the job's.
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var job = await harness.SubmitAsync("ckpt", gpus: 1, checkpointable: true);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1"));
        await harness.SettleAsync();
        await harness.ResumeAsync(job.Id);
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.Attempt, start.RestoreMigration), Is.EqualTo((2, command.CheckpointId)), "resumes from the copy on n1");

        await harness.Loop.AskAsync<Node>(r => new Scheduling.ChangeNode("n1", Scheduling.NodeOperation.Drain, "maintenance", r), CancellationToken.None);
        var stop = Drain(n1).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop).Stop;
        Assert.That((stop.JobId, stop.Attempt), Is.EqualTo((job.Id, 2)));
        var dropped = new AgentStatus { JobId = job.Id, Attempt = 2, State = AgentState.FailedToStart, Message = "not started: stopped: node drained" };
        harness.Send(n1, new WorkerMessage { AgentEvent = new AgentEvent { Agent = dropped } });
        await harness.SettleAsync();

        var record = harness.Store.Jobs[job.Id];
        Assert.That((record.State, record.Requeues), Is.EqualTo((JobState.Pending, 0)), "requeued from the drained node, no retry used");
        Assert.That(record.Checkpoint?.Nodes, Is.EqualTo(new[] { "n1" }), "its checkpoint is kept: it resumes from it, not from scratch");
    }

    /// <summary>A suspended job resumed where only n3 has room: its holder n1 was asked to ship the checkpoint there.</summary>
    private static async Task<(WorkerSession N1, WorkerSession N3, Job Job, ShipCheckpoint Ship)> ShippingToN3Async(LoopHarness harness, bool peer = true)
    {
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var job = await harness.SubmitAsync("ckpt", gpus: 1, checkpointable: true);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        var n2 = peer ? await harness.ConnectAsync("n2", 4, migratable: true) : null;
        await harness.SettleAsync();
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1"));
        await harness.SettleAsync();
        await harness.SubmitAsync("fill-n1", gpus: 4);
        Next(n1, MasterCommand.BodyOneofCase.Start);
        if (n2 is not null)
        {
            await harness.SubmitAsync("fill-n2", gpus: 4);
            Drain(n2);
        }

        var n3 = await harness.ConnectAsync("n3", 4, migratable: true);
        await harness.ResumeAsync(job.Id);
        Next(n3, MasterCommand.BodyOneofCase.ExpectMigration);
        var ship = Next(n1, MasterCommand.BodyOneofCase.ShipCheckpoint).ShipCheckpoint;
        return (n1, n3, job, ship);
    }

    private static WorkerMessage Shipped(ShipCheckpoint ship, bool ok) => new()
    {
        CheckpointReport = new CheckpointReport { CheckpointId = ship.ShipmentId, JobId = ship.JobId, Attempt = ship.Attempt, Ok = ok, Shipment = true, Bytes = 4096 },
    };

    private static async Task<LoopHarness> StartAsync(MemoryStore store) => await LoopHarness.StartAsync(store: store);

    private static async Task<LoopHarness> StartAsync() => await LoopHarness.StartAsync();

    private static async Task<(WorkerSession N1, WorkerSession N2, Job Job)> RunningOnN1Async(LoopHarness harness)
    {
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var job = await harness.SubmitAsync("ckpt", gpus: 1, checkpointable: true);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        var n2 = await harness.ConnectAsync("n2", 4, migratable: true);
        await harness.SettleAsync();
        return (n1, n2, job);
    }

    private static async Task<(WorkerSession N1, WorkerSession N2, Job Job, string CheckpointId)> SuspendedAsync(LoopHarness harness)
    {
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.SuspendAsync(job.Id);
        Next(n1, MasterCommand.BodyOneofCase.ExpectMigration);
        var command = Next(n1, MasterCommand.BodyOneofCase.CheckpointAgent).CheckpointAgent;
        Next(n2, MasterCommand.BodyOneofCase.ExpectMigration);
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        harness.Send(n1, Stored(command, "n1", "n2"));
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Suspended));
        Drain(n1);
        Drain(n2);
        return (n1, n2, job, command.CheckpointId);
    }

    private static WorkerMessage Stored(CheckpointAgent command, params string[] nodes)
    {
        var report = new CheckpointReport
        {
            CheckpointId = command.CheckpointId,
            JobId = command.JobId,
            Attempt = command.Attempt,
            Ok = true,
            Bytes = 4096,
            BytesSent = 4096,
            TakenAt = Timestamp.FromDateTime(new DateTime(2026, 11, 24, 12, 0, 0, DateTimeKind.Utc)),
            AgentStopped = command.Stop,
        };
        report.StoredOn.Add(nodes);
        return new WorkerMessage { CheckpointReport = report };
    }

    private static List<string> Drops(WorkerSession session) =>
        [.. Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.CancelMigration).Select(c => c.CancelMigration.MigrationId)];
}
