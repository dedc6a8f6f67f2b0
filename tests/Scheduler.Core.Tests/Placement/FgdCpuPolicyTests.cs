using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using Scheduler.Core.Tests.Foundation;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The default policy, fgd-cpu: fgd-mem's scores, a CPU-only task parked among equal scores on the node
/// with the least idle GPU, and 250 score levels for a shared-GPU task; and the learning every FGD policy does in the master,
/// where each job counts once however many scheduling passes score it.
/// </summary>
public sealed class FgdCpuPolicyTests
{
    // Every typical task asks one whole GPU and 4 cores.
    private static readonly TaskDistribution OneGpuTasks =
        TaskDistribution.FromDemands([JobDemand.Of("t", new ResourceRequest(4000, 1024, Gpus: 1))]);

    private static readonly JobDemand CpuOnly = JobDemand.Of("cpu", new ResourceRequest(2000, 1024));

    [Test]
    public void Is_the_default()
    {
        Assert.That(PlacementPolicies.Default, Is.EqualTo(PlacementPolicyNames.FgdCpu));
    }

    [Test]
    public void Parks_a_cpu_only_task_on_the_node_with_the_least_idle_gpu_where_fgd_takes_the_earlier_node()
    {
        // Both nodes keep plenty of CPU: the task strands no GPU on either, so both score alike.
        var (idle, busy) = (Nodes.Node("idle", gpus: 2, cpu: 32_000), Nodes.Node("busy", gpus: 2, cpu: 32_000));
        busy.Allocate(new Allocation("x", "busy", new ResourceRequest(1000, 1024, Gpus: 1), [new GpuShare(0, 1000)]));

        var fgd = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.Fgd, 42, OneGpuTasks)).Find(CpuOnly, [idle, busy]);
        var fgdCpu = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.FgdCpu, 42, OneGpuTasks)).Find(CpuOnly, [idle, busy]);

        Assert.That(fgd.Allocation!.NodeId, Is.EqualTo("idle"));
        Assert.That(fgdCpu.Allocation!.NodeId, Is.EqualTo("busy"));
    }

    [Test]
    public void Never_parks_a_cpu_only_task_where_it_would_strand_a_gpu()
    {
        // On "busy" the task would leave 3 cores, too few for a typical task: its idle GPU would be
        // stranded (a fragmentation increase of one GPU), which outweighs the idle-GPU tie-break.
        var (idle, busy) = (Nodes.Node("idle", gpus: 2, cpu: 32_000), Nodes.Node("busy", gpus: 2, cpu: 32_000));
        busy.Allocate(new Allocation("x", "busy", new ResourceRequest(27_000, 1024, Gpus: 1), [new GpuShare(0, 1000)]));

        var outcome = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.FgdCpu, 42, OneGpuTasks)).Find(CpuOnly, [busy, idle]);

        Assert.That(outcome.Allocation!.NodeId, Is.EqualTo("idle"));
    }

    [Test]
    public void Scores_a_whole_gpu_task_on_100_levels_and_a_shared_gpu_task_on_250()
    {
        // A 2-GPU node running a whole-GPU job on GPU 0. A whole-GPU job takes GPU 1: the node is
        // full, no fragment before or after; decrease 0 scores 100 / 2 = 50, as fgd does. A 500-milli
        // job on GPU 1 leaves 500 too small for the typical task: decrease −0.5 GPU scores
        // 250 / (1 + e^0.5) = 94.4 → 94 (fgd: 37).
        var node = Nodes.Node("n", gpus: 2, cpu: 32_000);
        node.Allocate(new Allocation("x", "n", new ResourceRequest(1000, 1024, Gpus: 1), [new GpuShare(0, 1000)]));
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.FgdCpu, 42, OneGpuTasks));

        var whole = engine.Explain(JobDemand.Of("w", new ResourceRequest(4000, 1024, Gpus: 1)), [node]).Single().Score;
        var shared = engine.Explain(JobDemand.Of("s", new ResourceRequest(4000, 1024, GpuMilli: 500)), [node]).Single().Score;

        Assert.That(whole, Is.EqualTo(50));
        Assert.That(shared, Is.EqualTo(94));
    }

    [TestCase(PlacementPolicyNames.FgdCpu)]
    [TestCase(PlacementPolicyNames.FgdMem)]
    [TestCase(PlacementPolicyNames.Fgd)]
    public void Learns_each_waiting_job_once_however_many_passes_score_it(string name)
    {
        // The master's way: one policy learns from the jobs it scores. A job that cannot be placed
        // waits and is scored again in every pass (its id a fresh string each time, as read from
        // the queue), between jobs that arrive once each.
        var policy = (FgdPolicy)PlacementPolicies.Create(name, 42, workload: null);
        var engine = new PlacementEngine(policy);
        var nodes = new[] { Nodes.Node("a", gpus: 2), Nodes.Node("b", gpus: 2) };
        const int passes = 8;
        for (var pass = 0; pass < passes; pass++)
        {
            engine.Find(JobDemand.Of(string.Concat("wait", "ing"), new ResourceRequest(1000, 1024, Gpus: 2)), nodes);
            engine.Find(JobDemand.Of($"new-{pass}", new ResourceRequest(1000, 1024, Gpus: 1)), nodes);
        }

        Assert.That(policy.Workload.Observed, Is.EqualTo(1 + passes));
        var waiting = policy.Workload.Typical.Single(t => t.GpuCount == 2);
        Assert.That(waiting.Weight, Is.EqualTo(1.0 / (1 + passes)).Within(1e-9));
    }
}
