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
        var node = await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = running.NodeId }, deadline: ClusterApi.Deadline());
        Assert.That(node.Free.Gpus, Is.EqualTo(1), "its GPU is free while it is suspended");
        var countWhenSuspended = Values(ledger).Count;

        // Something else may take the GPU meanwhile; the job resumes wherever it is placed.
        await api.Jobs.ResumeAsync(new ResumeJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
        var resumed = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.Attempt == 2, "the job to run again", TimeSpan.FromSeconds(60));
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
        var running = await api.WaitForStateAsync(job.Id, JobState.Running);
        await Eventually.TrueAsync(() => Values(ledger).Count >= 10, "the counter to count");
        var other = running.NodeId == "w1" ? "w2" : "w1";

        // A checkpoint taken after the counter passed 10, held by the other worker.
        var replicated = await api.WaitForJobAsync(job.Id, j => j.Checkpoint is { Attempt: 1 } c && c.TakenAt.ToDateTimeOffset() > running.StartedAt.ToDateTimeOffset().AddSeconds(2) && c.Nodes.Contains(other),
            "a replicated checkpoint", TimeSpan.FromSeconds(60));
        var countAtKill = Values(ledger).Count;

        await workers[running.NodeId].KillAsync();

        var resumed = await api.WaitForJobAsync(job.Id, j => j.State == JobState.Running && j.NodeId == other && j.Attempt == 2, "the job to run on the other worker", TimeSpan.FromSeconds(90));
        await Eventually.TrueAsync(() => Values(ledger).Count >= countAtKill + 10, "the counter to count again");

        var values = Values(ledger);
        var rewinds = Enumerable.Range(1, values.Count - 1).Where(i => values[i] != values[i - 1] + 1).ToList();
        Assert.That(rewinds, Has.Count.EqualTo(1), $"one restart, and one counter at a time: {string.Join(",", values)}");
        var resumedAt = values[rewinds[0]];
        Assert.That(resumedAt, Is.GreaterThan(1), "resumed from its checkpoint, not from zero");
        Assert.That(resumedAt, Is.LessThanOrEqualTo(values[rewinds[0] - 1]), "from a checkpoint at or before where the killed agent stopped");
        Assert.That(Enumerable.Range(rewinds[0] + 1, values.Count - rewinds[0] - 1).All(i => values[i] == values[i - 1] + 1), Is.True, "then counting on one at a time");
        Assert.That(resumed.Requeues, Is.EqualTo(1));
        TestContext.Out.WriteLine($"checkpoint {replicated.Checkpoint.Id} on {other}; killed at {countAtKill}, resumed at {resumedAt}");
    }
}
