using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Faults on real processes: a worker killed with SIGKILL, the master killed and restarted, a
/// node drained. Each test gets its own cluster so one fault cannot leak into another test.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class FaultTests : PerTestCluster
{
    [Test]
    public async Task Jobs_of_a_worker_killed_with_SIGKILL_are_requeued_and_finish_on_another_worker()
    {
        var (cluster, api) = await StartAsync("worker-kill");
        var w1 = cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var job = await api.SubmitAsync(ClusterApi.Shell(AttemptScript(cluster, "kill"), gpus: 1));
        await api.WaitForStateAsync(job.Id, JobState.Running);
        var firstPid = await ReadPidAsync(cluster, "kill", 1);
        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w2");

        await w1.KillAsync();

        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        Assert.That(done.NodeId, Is.EqualTo("w2"));
        Assert.That(done.Attempt, Is.EqualTo(2));
        Assert.That(done.Requeues, Is.EqualTo(1));
        Assert.That(Posix.IsAlive(firstPid), Is.False, "the first attempt's agent must die with its worker, or the job would run twice");
        var logs = await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That(logs.Data.ToStringUtf8(), Does.Contain("attempt 2 finished on w2"));
    }

    [Test]
    public async Task Restarted_master_keeps_every_job_and_does_not_rerun_the_running_one()
    {
        var (cluster, api) = await StartAsync("master-restart", ClusterTimings.MasterRestart);
        cluster.StartWorker("w1", gpus: 2);
        await api.WaitForReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var running = await api.SubmitAsync(ClusterApi.Shell(
            $"echo $$ > {cluster.Root}/pid-restart-$SCHEDULER_ATTEMPT; while [ ! -e {release} ]; do sleep 0.05; done; echo released"));
        var succeeded = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        var failed = await api.SubmitAsync(ClusterApi.Shell("exit 7"));
        var unfit = await api.SubmitAsync(ClusterApi.Shell("exit 0", gpus: 8));
        await api.WaitForStateAsync(running.Id, JobState.Running);
        await api.WaitForStateAsync(succeeded.Id, JobState.Succeeded);
        await api.WaitForStateAsync(failed.Id, JobState.Failed);
        var before = await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        var firstEpoch = (await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline())).Epoch;

        await cluster.Master!.KillAsync();
        await cluster.StartMasterAsync();
        await api.WaitForReadyNodesAsync("w1");

        var after = await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(after.Jobs.Select(j => (j.Id, j.State)), Is.EquivalentTo(before.Jobs.Select(j => (j.Id, j.State))));
        var leader = await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline());
        Assert.That(leader.Epoch, Is.GreaterThan(firstEpoch));
        var pending = await api.Jobs.GetAsync(new GetJobRequest { Id = unfit.Id }, deadline: ClusterApi.Deadline());
        Assert.That(pending.State, Is.EqualTo(JobState.Pending));
        Assert.That(pending.PendingReason, Is.Not.Empty);

        await File.WriteAllTextAsync(release, "go");
        var done = await api.WaitForStateAsync(running.Id, JobState.Succeeded);
        Assert.That(done.Attempt, Is.EqualTo(1), "the agent kept running through the restart; it must not be started again");
        Assert.That(File.Exists(Path.Combine(cluster.Root, "pid-restart-2")), Is.False);
    }

    [Test]
    public async Task Draining_a_node_moves_its_job_to_another_node_and_places_nothing_new_there()
    {
        var (cluster, api) = await StartAsync("drain");
        cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var job = await api.SubmitAsync(ClusterApi.Shell(AttemptScript(cluster, "drain")));
        await api.WaitForStateAsync(job.Id, JobState.Running);
        var firstPid = await ReadPidAsync(cluster, "drain", 1);
        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w2");

        await api.Admin.DrainNodeAsync(new DrainNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());

        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        Assert.That(done.NodeId, Is.EqualTo("w2"));
        Assert.That(done.Attempt, Is.EqualTo(2));
        Assert.That(Posix.IsAlive(firstPid), Is.False);
        var next = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        var placed = await api.WaitForStateAsync(next.Id, JobState.Succeeded);
        Assert.That(placed.NodeId, Is.EqualTo("w2"));
    }

    [Test]
    public async Task Logs_of_an_earlier_attempt_come_from_the_node_that_ran_it()
    {
        var (cluster, api) = await StartAsync("attempt-logs");
        cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var job = await api.SubmitAsync(ClusterApi.Shell(AttemptScript(cluster, "logs")));
        await ReadPidAsync(cluster, "logs", 1);
        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w2");
        await api.Admin.DrainNodeAsync(new DrainNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));

        var first = await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id, Attempt = 1 }, deadline: ClusterApi.Deadline());
        var last = await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline());

        Assert.That((first.Attempt, first.NodeId, first.Data.ToStringUtf8().Trim()), Is.EqualTo((1, "w1", "attempt 1 started on w1")));
        Assert.That((last.Attempt, last.NodeId), Is.EqualTo((2, "w2")));
        Assert.That(last.Data.ToStringUtf8(), Does.Contain("attempt 2 finished on w2"));
        await RpcAssert.FailsWith(Grpc.Core.StatusCode.InvalidArgument,
            () => api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id, Attempt = 3 }, deadline: ClusterApi.Deadline()).ResponseAsync);
    }

    /// <summary>The first attempt blocks (until killed); later attempts finish at once.</summary>
    private static string AttemptScript(TestCluster cluster, string tag) =>
        $"echo $$ > {cluster.Root}/pid-{tag}-$SCHEDULER_ATTEMPT; " +
        "if [ \"$SCHEDULER_ATTEMPT\" = 1 ]; then echo attempt 1 started on $SCHEDULER_NODE_ID; exec sleep 120; fi; " +
        "echo attempt $SCHEDULER_ATTEMPT finished on $SCHEDULER_NODE_ID";

    private static async Task<int> ReadPidAsync(TestCluster cluster, string tag, int attempt)
    {
        var file = Path.Combine(cluster.Root, $"pid-{tag}-{attempt}");
        var text = await Eventually.ReturnsAsync(
            () => Task.FromResult(File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } s ? s : null),
            $"attempt {attempt} to write its pid");
        return int.Parse(text, CultureInfo.InvariantCulture);
    }
}
