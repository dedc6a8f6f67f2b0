using Google.Protobuf.WellKnownTypes;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>
/// Rebalancing runs driven by the loop's tick on a fake clock: the planner's moves are started as
/// migrations (MigrateAgent to the source, ExpectMigration to the target), once per interval, within
/// the per-run and in-flight bounds, and only for running checkpointable jobs.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class RebalancingTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(60);

    [Test]
    public async Task Rebalancing_is_off_by_default_and_then_never_migrates()
    {
        Assert.That(new MasterOptions().Rebalance, Is.EqualTo(RebalanceModes.Off));
        await using var harness = await LoopHarness.StartAsync(Options(mode: null));
        var (n1, idle, jobs) = await HotClusterAsync(harness);
        var all = idle.Prepend(n1).ToArray();

        var sent = new List<MasterCommand>();
        for (var run = 0; run < 5; run++)
        {
            await ElapseAsync(harness, Interval, all);
            sent.AddRange(all.SelectMany(LoopHarness.Drain));
        }

        Assert.That(sent.Where(IsMigrationCommand), Is.Empty);
        Assert.That(jobs.Select(j => harness.Store.Jobs[j.Id].Migration), Is.All.Null);
        Assert.That(jobs.Select(j => harness.Store.Jobs[j.Id].NodeId), Is.All.EqualTo("n1"));
    }

    [Test]
    public async Task Max_load_moves_work_off_a_hot_node_once_the_interval_has_elapsed_at_most_max_per_run()
    {
        await using var harness = await LoopHarness.StartAsync(Options(RebalanceModes.MaxLoad, maxPerRun: 2, maxInFlight: 3));
        var (n1, idle, jobs) = await HotClusterAsync(harness);
        var (n2, n3) = (idle[0], idle[1]);

        await ElapseAsync(harness, Interval - TimeSpan.FromSeconds(1), n1, n2, n3);
        Assert.That(LoopHarness.Drain(n1).Where(IsMigrationCommand), Is.Empty, "not due before the interval");

        await ElapseAsync(harness, TimeSpan.FromSeconds(1), n1, n2, n3);

        var migrates = MigrateAgents(n1);
        Assert.That(migrates, Has.Count.EqualTo(2), "the planner wants two moves (4/0/0 → 2/1/1); the run may start two");
        Assert.That(migrates.Select(m => m.JobId), Is.SubsetOf(jobs.Select(j => j.Id)).And.Unique);
        var expected = new[] { (n2, "n2"), (n3, "n3") }
            .Select(t => (t.Item2, LoopHarness.Drain(t.Item1).Count(c => c.BodyCase == MasterCommand.BodyOneofCase.ExpectMigration)))
            .ToArray();
        Assert.That(expected, Is.EqualTo(new[] { ("n2", 1), ("n3", 1) }), "one to each idle node: the peak falls to half");
        Assert.That(migrates.Select(m => harness.Store.Jobs[m.JobId].Migration?.Id), Is.EqualTo(migrates.Select(m => m.MigrationId)), "stored before it was sent");
    }

    [Test]
    public async Task No_run_starts_a_migration_past_the_in_flight_bound_until_one_ends()
    {
        await using var harness = await LoopHarness.StartAsync(Options(RebalanceModes.MaxLoad, maxPerRun: 2, maxInFlight: 3));
        var (n1, idle, jobs) = await HotClusterAsync(harness, gpus: 8, checkpointable: [.. Enumerable.Repeat(true, 8)], idle: ["n2", "n3", "n4"]);
        var all = idle.Prepend(n1).ToArray();

        await ElapseAsync(harness, Interval, all);
        var first = MigrateAgents(n1);
        await ElapseAsync(harness, Interval, all);
        var second = MigrateAgents(n1);
        await ElapseAsync(harness, Interval, all);
        var third = MigrateAgents(n1);

        // The planner wants six moves (8/0/0/0 → 2/2/2/2); the bounds let 2, then 1, then none start.
        Assert.That((first.Count, second.Count, third.Count), Is.EqualTo((2, 1, 0)));
        Assert.That(jobs.Count(j => harness.Store.Jobs[j.Id].Migration is not null), Is.EqualTo(3));

        // One commits: one migration fewer is under way.
        var done = first[0];
        harness.Send(n1, new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = done.MigrationId, JobId = done.JobId, Attempt = done.Attempt, Ok = true, Rounds = 1, StoppedAt = Timestamp.FromDateTimeOffset(harness.Time.GetUtcNow()) } });
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[done.JobId].Migration, Is.Null);
        var notMoving = jobs.Where(j => harness.Store.Jobs[j.Id] is { NodeId: "n1", Migration: null }).Select(j => j.Id).ToArray();

        await ElapseAsync(harness, Interval, all);
        var fourth = MigrateAgents(n1);

        Assert.That(fourth, Has.Count.EqualTo(1), "room for one again");
        Assert.That(fourth[0].JobId, Is.AnyOf(notMoving));
        Assert.That(jobs.Count(j => harness.Store.Jobs[j.Id].Migration is not null), Is.EqualTo(3), "never more than the bound under way");
    }

    [Test]
    public async Task A_run_counts_the_migrations_under_way_as_done_and_moves_no_more_than_balance_needs()
    {
        await using var harness = await LoopHarness.StartAsync(Options(RebalanceModes.MaxLoad, maxPerRun: 2, maxInFlight: 4));
        var (n1, idle, jobs) = await HotClusterAsync(harness);
        var all = idle.Prepend(n1).ToArray();

        await ElapseAsync(harness, Interval, all);
        var first = MigrateAgents(n1);
        await ElapseAsync(harness, Interval, all);
        var second = MigrateAgents(n1);

        Assert.That((first.Count, second.Count), Is.EqualTo((2, 0)), "4/0/0 becomes 2/1/1 once the first two commit: a third move lowers no peak");
    }

    [Test]
    public async Task Jobs_that_are_not_checkpointable_are_never_moved_and_nodes_that_cannot_restore_receive_nothing()
    {
        await using var harness = await LoopHarness.StartAsync(Options(RebalanceModes.MaxLoad, maxPerRun: 4, maxInFlight: 4));
        var (n1, idle, jobs) = await HotClusterAsync(harness, checkpointable: [false, true, false, true], idle: ["n2", "n3"], n3Migratable: false);
        var (n2, n3) = (idle[0], idle[1]);
        var checkpointable = jobs.Where(j => j.Spec.Checkpointable).Select(j => j.Id).ToArray();

        var migrated = new List<MigrateAgent>();
        var expectedOnN3 = 0;
        for (var run = 0; run < 3; run++)
        {
            await ElapseAsync(harness, Interval, n1, n2, n3);
            migrated.AddRange(MigrateAgents(n1));
            expectedOnN3 += LoopHarness.Drain(n3).Count(IsMigrationCommand);
        }

        Assert.That(migrated, Is.Not.Empty, "something could move");
        Assert.That(migrated.Select(m => m.JobId), Is.SubsetOf(checkpointable));
        Assert.That(expectedOnN3, Is.Zero, "n3 cannot checkpoint or serve transfers");
        foreach (var plain in jobs.Where(j => !j.Spec.Checkpointable))
        {
            var stored = harness.Store.Jobs[plain.Id];
            Assert.That((stored.NodeId, stored.Attempt), Is.EqualTo(("n1", 1)));
            Assert.That(stored.Migration, Is.Null);
            Assert.That(stored.LastMigration, Is.Null);
        }
    }

    [Test]
    public async Task Fragmentation_mode_consolidates_shared_gpus_so_a_whole_gpu_job_can_start()
    {
        await using var harness = await LoopHarness.StartAsync(Options(RebalanceModes.Fragmentation, maxPerRun: 2, maxInFlight: 2));
        var n1 = await harness.ConnectAsync("n1", 1, migratable: true);
        var a = await SubmitSharedAsync(harness, "a", 500);
        var b = await SubmitSharedAsync(harness, "b", 500);
        await RunStartedAsync(harness, n1, 2);
        var n2 = await harness.ConnectAsync("n2", 1, migratable: true);
        var c = await SubmitSharedAsync(harness, "c", 500);
        var d = await SubmitSharedAsync(harness, "d", 500);
        await RunStartedAsync(harness, n2, 2);
        harness.Report(n1, a.Id, 1, AgentState.Exited, exitCode: 0);
        harness.Report(n2, d.Id, 1, AgentState.Exited, exitCode: 0);
        var whole = await harness.SubmitAsync("whole", gpus: 1);
        await harness.SettleAsync();
        Assert.That((harness.Store.Jobs[b.Id].NodeId, harness.Store.Jobs[c.Id].NodeId), Is.EqualTo(("n1", "n2")));
        Assert.That(harness.Store.Jobs[whole.Id].State, Is.EqualTo(JobState.Pending), "half a GPU free on each node: no whole one");
        LoopHarness.Drain(n1);
        LoopHarness.Drain(n2);

        await ElapseAsync(harness, Interval, n1, n2);

        var migrate = MigrateAgents(n1).Single();
        Assert.That(migrate.JobId, Is.EqualTo(b.Id), "the two halves meet on one GPU");
        Assert.That(LoopHarness.Drain(n2).Count(cmd => cmd.BodyCase == MasterCommand.BodyOneofCase.ExpectMigration), Is.EqualTo(1));

        harness.Send(n1, new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = migrate.MigrationId, JobId = b.Id, Attempt = 1, Ok = true, Rounds = 1, StoppedAt = Timestamp.FromDateTimeOffset(harness.Time.GetUtcNow()) } });
        await harness.SettleAsync();

        var start = LoopHarness.Drain(n1).Single(cmd => cmd.BodyCase == MasterCommand.BodyOneofCase.Start).Start;
        Assert.That(start.JobId, Is.EqualTo(whole.Id), "the freed whole GPU goes to the waiting job");
        Assert.That(harness.Store.Jobs[b.Id].NodeId, Is.EqualTo("n2"));

        // Nothing left to gain: the next run plans nothing.
        harness.Report(n2, b.Id, 2, AgentState.Running);
        harness.Report(n1, whole.Id, start.Attempt, AgentState.Running);
        await ElapseAsync(harness, Interval, n1, n2);
        Assert.That(MigrateAgents(n1).Concat(MigrateAgents(n2)), Is.Empty);
    }

    /// <summary>Nodes never fall suspect while the clock jumps whole intervals between heartbeats.</summary>
    private static MasterOptions Options(string? mode, int maxPerRun = 2, int maxInFlight = 4)
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, SuspectAfterMissed = 100, DeadAfterMs = 3_600_000, ReconnectWindowMs = 0 };
        if (mode is not null)
        {
            options.Rebalance = mode;
            options.RebalanceIntervalSeconds = (int)Interval.TotalSeconds;
            options.RebalanceMaxPerRun = maxPerRun;
            options.RebalanceMaxInFlight = maxInFlight;
        }

        return options;
    }

    /// <summary>n1 runs one 1-GPU job per GPU; the idle nodes (as many GPUs each) joined afterwards.</summary>
    private static async Task<(WorkerSession N1, WorkerSession[] Idle, Job[] Jobs)> HotClusterAsync(
        LoopHarness harness, int gpus = 4, bool[]? checkpointable = null, string[]? idle = null, bool n3Migratable = true)
    {
        checkpointable ??= [true, true, true, true];
        idle ??= ["n2", "n3"];
        var n1 = await harness.ConnectAsync("n1", gpus, migratable: true);
        var jobs = new List<Job>();
        for (var i = 0; i < checkpointable.Length; i++)
        {
            jobs.Add(await harness.SubmitAsync($"j{i}", gpus: 1, checkpointable: checkpointable[i]));
        }

        await RunStartedAsync(harness, n1, jobs.Count);
        var sessions = new List<WorkerSession>();
        foreach (var id in idle)
        {
            sessions.Add(await harness.ConnectAsync(id, gpus, migratable: id != "n3" || n3Migratable));
        }

        await harness.SettleAsync();
        Assert.That(jobs.Select(j => harness.Store.Jobs[j.Id].State), Is.All.EqualTo(JobState.Running));
        return (n1, [.. sessions], [.. jobs]);
    }

    /// <summary>Reports every agent the node was told to start as running.</summary>
    private static async Task RunStartedAsync(LoopHarness harness, WorkerSession node, int expected)
    {
        await harness.SettleAsync();
        var starts = LoopHarness.Drain(node).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start).Select(c => c.Start).ToList();
        Assert.That(starts, Has.Count.EqualTo(expected));
        foreach (var start in starts)
        {
            harness.Report(node, start.JobId, start.Attempt, AgentState.Running);
        }

        await harness.SettleAsync();
    }

    /// <summary>Keeps the nodes alive, lets <paramref name="span"/> pass and has the loop handle a tick at the new time.</summary>
    private static async Task ElapseAsync(LoopHarness harness, TimeSpan span, params WorkerSession[] alive)
    {
        foreach (var session in alive)
        {
            harness.Heartbeat(session);
        }

        await harness.SettleAsync();
        await harness.AdvanceAsync(span);
    }

    private static List<MigrateAgent> MigrateAgents(WorkerSession source) =>
        [.. LoopHarness.Drain(source).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.MigrateAgent).Select(c => c.MigrateAgent)];

    private static bool IsMigrationCommand(MasterCommand command) =>
        command.BodyCase is MasterCommand.BodyOneofCase.MigrateAgent or MasterCommand.BodyOneofCase.ExpectMigration;

    private static async Task<Job> SubmitSharedAsync(LoopHarness harness, string requestId, int gpuMilli)
    {
        var spec = new JobSpec { Name = requestId, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, GpuMilli = gpuMilli }, Checkpointable = true };
        var reply = await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = requestId, Spec = spec }, r), CancellationToken.None);
        return reply.Job;
    }
}
