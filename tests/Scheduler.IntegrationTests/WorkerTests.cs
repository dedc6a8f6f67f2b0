using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Worker behaviour that needs a real master on the other end of the stream.</summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class WorkerTests : PerTestCluster
{
    [Test]
    public async Task Worker_with_the_default_probe_on_a_host_without_the_driver_registers_no_gpus_and_warns()
    {
        Assume.That(File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"), Is.False, "this host has an NVIDIA driver");
        var (cluster, api) = await StartAsync("no-driver");

        var worker = cluster.StartWorker("w1", gpuProbe: null);

        await api.WaitForReadyNodesAsync("w1");
        var node = await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        Assert.That(node.Gpus, Is.Empty, "no simulated GPUs unless asked for by name");
        Assert.That(worker.ReadLog(), Does.Contain("warn:").And.Contain("this node offers NO GPUs"));
    }

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
    [Test]
    public async Task A_job_running_past_dead_after_is_never_fenced_the_gateway_acknowledging_each_heartbeat_with_the_terms_epoch()
    {
        var (cluster, api) = await StartAsync("acks");
        var worker = cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");

        // Dead-after is 5 s here: without acknowledgements it would accept, the worker fences at 4.8 s.
        var job = await api.SubmitAsync(ClusterApi.Shell("sleep 8"));
        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded);

        Assert.That(done.Attempt, Is.EqualTo(1), "ran once, to the end");
        Assert.That(worker.ReadLog(), Does.Not.Contain("Ignored HeartbeatAck").And.Not.Contain("no contact with the master"));
    }
}
