using System.Globalization;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Live migration end to end: a real master, real workers, the stateful counter agent (samples/),
/// its own ledger as the judge — it must continue from its checkpoint and never count in two places.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed partial class MigrationTests : PerTestCluster
{
    [Test]
    public async Task A_counter_migrated_between_workers_continues_from_its_checkpoint_and_never_runs_in_two_places()
    {
        var (_, api, ledger, job, running) = await CountingOnOneOfTwoWorkersAsync("migrate");
        var source = running.NodeId;
        var target = source == "w1" ? "w2" : "w1";

        var migrating = await api.Admin.MigrateJobAsync(new MigrateJobRequest { JobId = job.Id, TargetNode = target }, deadline: ClusterApi.Deadline());
        Assert.That(migrating.State, Is.EqualTo(JobState.Migrating));
        var moved = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.NodeId == target && j.LastMigration?.DowntimeMs > 0, "the job to run on the target", TimeSpan.FromSeconds(60));
        var countAtMove = Values(ledger).Count;
        await Eventually.TrueAsync(() => Values(ledger).Count >= countAtMove + 10, "the counter to go on counting on the target");

        Assert.That(moved.Attempt, Is.EqualTo(running.Attempt + 1), "the move is one new attempt");
        Assert.That(moved.LastMigration.Phase, Is.EqualTo("moved"));
        Assert.That(moved.LastMigration.Rounds, Is.GreaterThanOrEqualTo(1));
        Assert.That(moved.LastMigration.BytesSent, Is.GreaterThan(0));
        var values = Values(ledger);
        Assert.That(values, Is.EqualTo(Enumerable.Range(1, values.Count).Select(v => (long)v)),
            "1, 2, 3, … without a gap (it resumed from its checkpoint, not from zero) or a repeat (never two copies counting)");
        TestContext.Out.WriteLine($"migrated {source} -> {target}: {moved.LastMigration.Rounds} rounds, {moved.LastMigration.BytesSent} bytes, downtime {moved.LastMigration.DowntimeMs} ms");
    }

    [Test]
    public async Task Draining_a_worker_moves_its_checkpointable_agents_live_and_none_restarts_from_zero()
    {
        var (cluster, api) = await StartAsync("drain-migrate");
        cluster.StartWorker("w1", gpus: 2);
        await api.WaitForReadyNodesAsync("w1");
        var ledgers = new[] { Path.Combine(cluster.Root, "a.ledger"), Path.Combine(cluster.Root, "b.ledger") };
        var jobs = new List<Job>();
        foreach (var ledger in ledgers)
        {
            jobs.Add(await api.SubmitAsync(Counter(ledger)));
        }

        foreach (var job in jobs)
        {
            await api.WaitForStateAsync(job.Id, JobState.Running);
        }

        cluster.StartWorker("w2", gpus: 2);
        await api.WaitForReadyNodesAsync("w1", "w2");
        await Eventually.TrueAsync(() => ledgers.All(l => Values(l).Count >= 10), "both counters to count on w1");

        await api.Admin.DrainNodeAsync(new DrainNodeRequest { Id = "w1", Reason = "maintenance" }, deadline: ClusterApi.Deadline());

        foreach (var job in jobs)
        {
            var moved = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.NodeId == "w2", $"{job.Id} to run on w2", TimeSpan.FromSeconds(60));
            Assert.That(moved.LastMigration?.Phase, Is.EqualTo("moved"), $"{job.Id} was migrated, not restarted");
        }

        var counts = ledgers.Select(l => Values(l).Count).ToArray();
        await Eventually.TrueAsync(() => ledgers.Select((l, i) => Values(l).Count > counts[i] + 5).All(b => b), "both counters to go on counting on w2");
        foreach (var ledger in ledgers)
        {
            var values = Values(ledger);
            Assert.That(values, Is.EqualTo(Enumerable.Range(1, values.Count).Select(v => (long)v)), $"{Path.GetFileName(ledger)}: continued from its checkpoint, never two copies");
        }
    }

    [Test]
    public async Task A_migration_to_a_target_that_is_gone_rolls_back_and_the_agent_keeps_running_where_it_was()
    {
        var (cluster, api) = await StartAsync("migrate-gone");
        var w1 = cluster.StartWorker("w1", gpus: 1);
        var w2 = cluster.StartWorker("w2", gpus: 1);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var ledger = Path.Combine(cluster.Root, "counter.ledger");
        var job = await api.SubmitAsync(Counter(ledger));
        var running = await api.WaitForStateAsync(job.Id, JobState.Running);
        var (target, targetProcess) = running.NodeId == "w1" ? ("w2", w2) : ("w1", w1);

        // The target dies after it was chosen: the source's transfer cannot reach it.
        await api.Admin.MigrateJobAsync(new MigrateJobRequest { JobId = job.Id, TargetNode = target }, deadline: ClusterApi.Deadline());
        await targetProcess.KillAsync();

        var after = await api.WaitForJobAsync(job.Id, j => j.LastMigration?.Phase == "rolled back", "the migration to roll back", TimeSpan.FromSeconds(90));
        Assert.That((after.State, after.NodeId, after.Attempt), Is.EqualTo((JobState.Running, running.NodeId, 1)), "still running where it was");
        var count = Values(ledger).Count;
        await Eventually.TrueAsync(() => Values(ledger).Count > count + 5, "the agent to go on counting on its source");
    }

    [Test]
    public async Task Migrating_a_job_that_is_not_checkpointable_is_refused()
    {
        var (cluster, api) = await StartAsync("migrate-plain");
        cluster.StartWorker("w1", gpus: 1);
        cluster.StartWorker("w2", gpus: 1);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var job = await api.SubmitAsync(ClusterApi.Shell("sleep 30"));
        await api.WaitForStateAsync(job.Id, JobState.Running);

        var refused = await RpcAssert.FailsWith(StatusCode.FailedPrecondition, () => api.Admin.MigrateJobAsync(new MigrateJobRequest { JobId = job.Id }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(refused.Status.Detail, Does.Contain("not checkpointable"));
    }

    /// <summary>Two one-GPU workers and the counter agent counting (past 10) on one of them.</summary>
    private async Task<(TestCluster Cluster, ClusterApi Api, string Ledger, Job Job, Job Running)> CountingOnOneOfTwoWorkersAsync(string name)
    {
        var (cluster, api) = await StartAsync(name);
        cluster.StartWorker("w1", gpus: 1);
        cluster.StartWorker("w2", gpus: 1);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var ledger = Path.Combine(cluster.Root, "counter.ledger");
        var job = await api.SubmitAsync(Counter(ledger));
        await api.WaitForStateAsync(job.Id, JobState.Running);
        await Eventually.TrueAsync(() => Values(ledger).Count >= 10, "the counter to count");

        // The attempt that is counting now: on a loaded machine a worker may refuse a first start as
        // possibly stale (it went too long without contact), and the job then runs a later attempt.
        var running = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running, "the job to be running", TimeSpan.FromSeconds(60));
        return (cluster, api, ledger, job, running);
    }

    private static JobSpec Counter(string ledger)
    {
        var spec = new JobSpec
        {
            Name = "counter",
            Command = "dotnet",
            Resources = new Resources { CpuMillis = 200, MemoryMib = 256, Gpus = 1 },
            Checkpointable = true,
        };
        spec.Args.Add([Artifacts.CounterAgentDll, "50"]);
        spec.Env["COUNTER_LEDGER"] = ledger;
        return spec;
    }

    private static List<long> Values(string ledger) =>
        File.Exists(ledger)
            ? [.. File.ReadAllLines(ledger).Where(l => l.Length > 0).Select(l => long.Parse(l, CultureInfo.InvariantCulture))]
            : [];
}
