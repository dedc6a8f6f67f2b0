using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// The master's side of a live migration with fake worker sessions: the target reserved and
/// authorised, the source asked to move the agent, then commit or rollback on its report.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class MigrationCoordinationTests
{
    [Test]
    public async Task A_committed_migration_starts_the_next_attempt_on_the_target_from_the_checkpoint_and_frees_the_source()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);

        var migrating = await harness.MigrateAsync(job.Id, "n2");

        Assert.That(migrating.State, Is.EqualTo(JobState.Migrating));
        var expect = Next(n2, MasterCommand.BodyOneofCase.ExpectMigration).ExpectMigration;
        var migrate = Next(n1, MasterCommand.BodyOneofCase.MigrateAgent).MigrateAgent;
        Assert.That((migrate.MigrationId, migrate.Token, migrate.JobId, migrate.Attempt), Is.EqualTo((expect.MigrationId, expect.Token, job.Id, 1)));
        Assert.That(migrate.TargetAddress, Does.StartWith("127.0.0.1:"));
        Assert.That(expect.Token, Has.Length.GreaterThanOrEqualTo(40), "a one-time token with 256 bits");
        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.EqualTo(3), "the target's capacity is reserved for the migration");
        Assert.That(harness.Store.Jobs[job.Id].Migration?.TargetNode, Is.EqualTo("n2"), "the migration is stored before it is acted on");

        // The source stops its agent after the commit: that exit is not the job's end.
        harness.Send(n1, Exit(job.Id, 1, migrated: true));
        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Jobs[job.Id].State, Is.EqualTo(JobState.Running));

        var stoppedAt = harness.Time.GetUtcNow();
        harness.Send(n1, new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = migrate.MigrationId, JobId = job.Id, Attempt = 1, Ok = true, Rounds = 3, BytesSent = 12345, StoppedAt = Timestamp.FromDateTimeOffset(stoppedAt) } });
        var start = Next(n2, MasterCommand.BodyOneofCase.Start).Start;
        Assert.That((start.JobId, start.Attempt, start.RestoreMigration, start.Checkpointable), Is.EqualTo((job.Id, 2, migrate.MigrationId, true)));
        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(4), "the source is free once the job moved");

        harness.Time.Advance(TimeSpan.FromMilliseconds(120));
        harness.Report(n2, job.Id, 2, AgentState.Running);
        await harness.SettleAsync();
        var moved = harness.Store.Jobs[job.Id];
        Assert.That((moved.State, moved.NodeId, moved.Attempt), Is.EqualTo((JobState.Running, "n2", 2)));
        Assert.That(moved.Migration, Is.Null);
        Assert.That(moved.LastMigration!.Phase, Is.EqualTo("moved"));
        Assert.That(moved.LastMigration.DowntimeMs, Is.EqualTo(120), "source stopped → target running");
        Assert.That((moved.LastMigration.Rounds, moved.LastMigration.BytesSent), Is.EqualTo((3, 12345L)));

        // Once the resumed attempt ends, the target may delete the checkpoint it started from.
        harness.Report(n2, job.Id, 2, AgentState.Exited, exitCode: 0);
        var forget = Next(n2, MasterCommand.BodyOneofCase.CancelMigration).CancelMigration;
        Assert.That(forget.MigrationId, Is.EqualTo(migrate.MigrationId));
    }

    [Test]
    public async Task A_failed_migration_rolls_back_the_reservation_and_leaves_the_job_running_on_its_source()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.MigrateAsync(job.Id);
        Next(n2, MasterCommand.BodyOneofCase.ExpectMigration);
        var migrate = Next(n1, MasterCommand.BodyOneofCase.MigrateAgent).MigrateAgent;

        harness.Send(n1, new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = migrate.MigrationId, JobId = job.Id, Attempt = 1, Ok = false, Error = "target unreachable" } });

        var cancel = Next(n2, MasterCommand.BodyOneofCase.CancelMigration).CancelMigration;
        Assert.That(cancel.MigrationId, Is.EqualTo(migrate.MigrationId));
        await harness.SettleAsync();
        var job1 = harness.Store.Jobs[job.Id];
        Assert.That((job1.State, job1.NodeId, job1.Attempt), Is.EqualTo((JobState.Running, "n1", 1)));
        Assert.That(job1.Migration, Is.Null);
        Assert.That(job1.LastMigration!.Phase, Is.EqualTo("rolled back"));
        Assert.That(job1.LastMigration.Error, Does.Contain("target unreachable"));
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.EqualTo(4), "the reservation is released");
    }

    [Test]
    public async Task An_agent_that_ends_during_its_migration_ends_the_migration_too()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (n1, n2, job) = await RunningOnN1Async(harness);
        await harness.MigrateAsync(job.Id, "n2");
        Next(n2, MasterCommand.BodyOneofCase.ExpectMigration);
        Next(n1, MasterCommand.BodyOneofCase.MigrateAgent);

        harness.Report(n1, job.Id, 1, AgentState.Exited, exitCode: 0);

        Next(n2, MasterCommand.BodyOneofCase.CancelMigration);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Succeeded), "it finished: not run again");
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.EqualTo(4));
    }

    [Test]
    public async Task Jobs_that_cannot_move_are_refused_with_the_reason()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        await harness.ConnectAsync("n2", 4, migratable: true);
        var plain = await harness.SubmitAsync("plain", gpus: 1);
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        harness.Report(n1, plain.Id, start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        var notCheckpointable = await Assert.ThrowsAsync<RpcException>(() => harness.MigrateAsync(plain.Id, "n2"));
        Assert.That((notCheckpointable!.StatusCode, notCheckpointable.Status.Detail), Is.EqualTo((StatusCode.FailedPrecondition, $"job {plain.Id} is not checkpointable: it can be restarted elsewhere, not migrated")));
        var unknownTarget = await Assert.ThrowsAsync<RpcException>(() => harness.MigrateAsync(plain.Id, "nowhere"));
        Assert.That(unknownTarget!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition), "checked after the job itself");

        var ckpt = await harness.SubmitAsync("ckpt", gpus: 4, checkpointable: true);
        await harness.SettleAsync();
        var pending = await Assert.ThrowsAsync<RpcException>(() => harness.MigrateAsync(ckpt.Id));
        Assert.That(pending!.Status.Detail, Does.Contain("only a running job can be migrated"));
    }

    [Test]
    public async Task A_target_that_cannot_fit_the_job_is_refused_and_nothing_is_reserved()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        await harness.ConnectAsync("n2", 2, migratable: true);
        var job = await harness.SubmitAsync("big", gpus: 4, checkpointable: true);
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        harness.Report(n1, job.Id, start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        var refused = await Assert.ThrowsAsync<RpcException>(() => harness.MigrateAsync(job.Id, "n2"));

        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(harness.Store.Jobs[job.Id].Migration, Is.Null);
        Assert.That(harness.Loop.View.Nodes["n2"].Free.Gpus, Is.EqualTo(2));
    }

    [Test]
    public async Task Draining_a_node_migrates_its_checkpointable_agents_and_restarts_the_others()
    {
        await using var harness = await LoopHarness.StartAsync();
        var (n1, n2, ckpt) = await RunningOnN1Async(harness);
        var plain = await harness.SubmitAsync("plain", gpus: 1);
        await harness.SettleAsync();
        var plainStart = LoopHarness.Drain(n1).Single(c => c.BodyCase == MasterCommand.BodyOneofCase.Start && c.Start.JobId == plain.Id).Start;
        harness.Report(n1, plain.Id, plainStart.Attempt, AgentState.Running);
        await harness.SettleAsync();

        await harness.Loop.AskAsync<Node>(r => new ChangeNode("n1", NodeOperation.Drain, "maintenance", r), CancellationToken.None);

        var sent = LoopHarness.Drain(n1);
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.MigrateAgent).Select(c => c.MigrateAgent.JobId), Is.EqualTo(new[] { ckpt.Id }), "moved with its state");
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop).Select(c => c.Stop.JobId), Is.EqualTo(new[] { plain.Id }), "restarted elsewhere");
        Assert.That(LoopHarness.Drain(n2).Any(c => c.BodyCase == MasterCommand.BodyOneofCase.ExpectMigration), Is.True);
    }

    [Test]
    public async Task Draining_with_nowhere_to_migrate_restarts_the_checkpointable_agent_too()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var job = await harness.SubmitAsync("ckpt", gpus: 1, checkpointable: true);
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        harness.Report(n1, job.Id, start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        await harness.Loop.AskAsync<Node>(r => new ChangeNode("n1", NodeOperation.Drain, "maintenance", r), CancellationToken.None);

        var sent = LoopHarness.Drain(n1);
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop).Select(c => c.Stop.JobId), Is.EqualTo(new[] { job.Id }));
        Assert.That(harness.Store.Jobs[job.Id].Migration, Is.Null);
    }

    [Test]
    public async Task A_checkpointable_preemption_victim_moves_live_and_the_preemptor_gets_its_room_at_the_commit()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var ckpt = await harness.SubmitAsync("ckpt", gpus: 2, checkpointable: true, priority: 100);
        var plain = await harness.SubmitAsync("plain", gpus: 2, priority: 100);
        await harness.SettleAsync();
        foreach (var start in LoopHarness.Drain(n1).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start))
        {
            harness.Report(n1, start.Start.JobId, start.Start.Attempt, AgentState.Running);
        }

        var n2 = await harness.ConnectAsync("n2", 2, migratable: true);
        await harness.SettleAsync();

        var urgent = await harness.SubmitAsync("urgent", gpus: 4, priority: 800);
        await harness.SettleAsync();

        var sent = LoopHarness.Drain(n1);
        var migrate = sent.Single(c => c.BodyCase == MasterCommand.BodyOneofCase.MigrateAgent).MigrateAgent;
        Assert.That(migrate.JobId, Is.EqualTo(ckpt.Id), "the checkpointable victim moves with its state");
        Assert.That(sent.Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Stop).Select(c => c.Stop.JobId), Is.EqualTo(new[] { plain.Id }), "the other is stopped and requeued");

        harness.Report(n1, plain.Id, 1, AgentState.Exited, exitCode: 143);
        harness.Send(n1, new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = migrate.MigrationId, JobId = ckpt.Id, Attempt = 1, Ok = true, Rounds = 1, StoppedAt = Timestamp.FromDateTimeOffset(harness.Time.GetUtcNow()) } });
        await harness.SettleAsync();

        // The harness's own tick: the loop's timer may post its tick only after the settle on a busy machine.
        await harness.AdvanceAsync(TimeSpan.FromSeconds(2));
        harness.Heartbeat(n1);
        await harness.SettleAsync();

        Assert.That(harness.Store.Jobs[ckpt.Id].NodeId, Is.EqualTo("n2"));
        Assert.That(harness.Store.Jobs[urgent.Id].NodeId, Is.EqualTo("n1"), "placed where the victims were");
        Assert.That(harness.Store.Jobs[urgent.Id].State, Is.EqualTo(JobState.Assigned));
    }

    private static async Task<(Workers.WorkerSession N1, Workers.WorkerSession N2, Job Job)> RunningOnN1Async(LoopHarness harness)
    {
        var n1 = await harness.ConnectAsync("n1", 4, migratable: true);
        var job = await harness.SubmitAsync("ckpt", gpus: 1, checkpointable: true);
        var start = Next(n1, MasterCommand.BodyOneofCase.Start).Start;
        Assert.That(start.Checkpointable, Is.True);
        harness.Report(n1, job.Id, start.Attempt, AgentState.Running);
        var n2 = await harness.ConnectAsync("n2", 4, migratable: true);
        await harness.SettleAsync();
        return (n1, n2, job);
    }
}
