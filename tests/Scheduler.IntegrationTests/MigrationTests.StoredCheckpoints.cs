using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Suspend/resume and periodic replicated checkpoints end to end, judged by the counter agent's own ledger.</summary>
public sealed partial class MigrationTests
{
    [Test]
    public async Task Suspend_frees_the_gpu_and_resume_continues_the_counter_from_its_checkpoint()
    {
        var (_, api, ledger, job, running) = await CountingOnOneOfTwoWorkersAsync("suspend");

        var suspending = await api.Jobs.SuspendAsync(new SuspendJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That(suspending.CheckpointInProgress, Is.EqualTo("suspend"));
        var suspended = await api.WaitForStateAsync(job.Id, JobState.Suspended, TimeSpan.FromSeconds(60));

        Assert.That(suspended.Checkpoint.Nodes, Is.EquivalentTo(new[] { "w1", "w2" }), "kept on its node and replicated to the other");
        Assert.That(suspended.Checkpoint.Bytes, Is.GreaterThan(0));
        // The node's view follows the job's state (the agent's exit reaches the master after the checkpoint).
        await Eventually.TrueAsync(
            async () => (await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = running.NodeId }, deadline: ClusterApi.Deadline())).Free.Gpus == 1,
            "its GPU to be free while it is suspended");
        var countWhenSuspended = Values(ledger).Count;

        // Something else may take the GPU meanwhile; the job resumes wherever it is placed.
        await api.Jobs.ResumeAsync(new ResumeJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
        var resumed = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.Attempt == suspended.Attempt + 1, "the job to run again", TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => Values(ledger).Count >= countWhenSuspended + 10, "the counter to go on counting");

        var values = Values(ledger);
        Assert.That(values, Is.EqualTo(Enumerable.Range(1, values.Count).Select(v => (long)v)),
            "1, 2, 3, … : resumed right after its checkpoint, and nothing counted while suspended");
        TestContext.Out.WriteLine($"suspended on {running.NodeId} at {countWhenSuspended}, resumed on {resumed.NodeId}: {resumed.Message}");
    }

    [Test]
    public async Task A_job_whose_worker_is_killed_resumes_elsewhere_from_its_last_replicated_checkpoint()
    {
        var (cluster, api) = await StartAsync("replicated");
        var workers = new Dictionary<string, ManagedProcess> { ["w1"] = cluster.StartWorker("w1", gpus: 1), ["w2"] = cluster.StartWorker("w2", gpus: 1) };
        await api.WaitForReadyNodesAsync("w1", "w2");
        var ledger = Path.Combine(cluster.Root, "counter.ledger");
        var spec = Counter(ledger);
        spec.CheckpointIntervalS = 1;
        var job = await api.SubmitAsync(spec);
        await api.WaitForStateAsync(job.Id, JobState.Running);
        await Eventually.TrueAsync(() => Values(ledger).Count >= 10, "the counter to count");

        // A checkpoint of the running attempt, taken after it counted for a while, held by the other
        // worker. (On a loaded machine a worker may fence its agent once before this, and the job
        // runs a later attempt: the checkpoint and the kill follow whichever attempt runs.)
        static string Other(string node) => node == "w1" ? "w2" : "w1";
        var replicated = await api.WaitForJobAsync(
            job.Id,
            j => j.State == JobState.Running && j.Checkpoint is { } c && c.Attempt == j.Attempt
                && c.TakenAt.ToDateTimeOffset() > j.StartedAt.ToDateTimeOffset().AddSeconds(2) && c.Nodes.Contains(Other(j.NodeId)),
            "a replicated checkpoint of the running attempt",
            TimeSpan.FromSeconds(60));
        var other = Other(replicated.NodeId);
        var countAtKill = Values(ledger).Count;

        await workers[replicated.NodeId].KillAsync();

        var resumed = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.NodeId == other && j.Attempt == replicated.Attempt + 1, "the job to run on the other worker", TimeSpan.FromSeconds(90));
        await Eventually.TrueAsync(() => Values(ledger).Count >= countAtKill + 10, "the counter to count again");

        var values = Values(ledger);
        var rewinds = Enumerable.Range(1, values.Count - 1).Where(i => values[i] != values[i - 1] + 1).ToList();
        var afterKill = rewinds.Where(i => i >= countAtKill).ToList();
        Assert.That(afterKill, Has.Count.EqualTo(1), $"one restart after the kill, and one counter at a time: {string.Join(",", values)}");
        Assert.That(rewinds.Count - afterKill.Count, Is.LessThan(replicated.Attempt), "no restart before it but the attempts the job had already run");
        var resumedAt = values[afterKill[0]];
        Assert.That(resumedAt, Is.GreaterThan(1), "resumed from its checkpoint, not from zero");
        Assert.That(resumedAt, Is.LessThanOrEqualTo(values[afterKill[0] - 1]), "from a checkpoint at or before where the killed agent stopped");
        Assert.That(Enumerable.Range(afterKill[0] + 1, values.Count - afterKill[0] - 1).All(i => values[i] == values[i - 1] + 1), Is.True, "then counting on one at a time");
        Assert.That(resumed.Requeues, Is.EqualTo(replicated.Requeues + 1));
        TestContext.Out.WriteLine($"checkpoint {replicated.Checkpoint.Id} on {other}; killed at {countAtKill}, resumed at {resumedAt}");
    }
}
