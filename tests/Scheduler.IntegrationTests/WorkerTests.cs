using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Worker behaviour that needs a real master on the other end of the stream.</summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class WorkerTests : PerTestCluster
{
    [Test]
    public async Task Simulate_hosts_many_workers_in_one_process()
    {
        var (cluster, api) = await StartAsync("simulate");

        cluster.StartWorker("sim", gpus: 2, extraArgs: ["--simulate", "5"]);

        await api.WaitForReadyNodesAsync("sim-000", "sim-001", "sim-002", "sim-003", "sim-004");
        var nodes = await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline());
        Assert.That(nodes.Nodes.SelectMany(n => n.Gpus).Select(g => g.Info.Uuid), Is.Unique);
        var job = await api.SubmitAsync(ClusterApi.Shell("echo ran on $SCHEDULER_NODE_ID"));
        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded);
        Assert.That(done.NodeId, Does.StartWith("sim-"));
    }
}
