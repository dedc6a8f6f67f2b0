using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using Scheduler.Core.Tests.Foundation;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The scores of the FGD paper's simulator, computed by hand: best-fit-paper (absolute leftover over
/// the largest node spec, 128 cores and 8 GPUs, as an integer) and fgd (100·sigmoid of the
/// fragmentation decrease in GPUs, as an integer); ties go to the earlier node.
/// </summary>
public sealed class PaperPolicyTests
{
    [Test]
    public void Best_fit_paper_measures_leftover_in_absolute_units_and_so_prefers_the_small_node()
    {
        // big: 8 GPUs, 128 cores, half used (4 GPUs, 64 cores free). small: 2 GPUs, 16 cores, idle.
        // Job: 1 GPU, 4 cores.
        // best-fit (relative):  big 0.5·60/128 + 0.5·3/8 = 0.42;  small 0.5·12/16 + 0.5·1/2 = 0.625 → big.
        // best-fit-paper:       big 0.5·60000/128000 + 0.5·3000/8000 = 0.421875 → ⌊100·0.578125⌋ = 57;
        //                       small 0.5·12000/128000 + 0.5·1000/8000 = 0.109375 → ⌊89.06⌋ = 89 → small.
        var big = Nodes.Node("big", gpus: 8, cpu: 128_000);
        big.Allocate(new Allocation("x", "big", new ResourceRequest(64_000, 1024, Gpus: 4), [.. Enumerable.Range(0, 4).Select(i => new GpuShare(i, 1000))]));
        var small = Nodes.Node("small", gpus: 2, cpu: 16_000);
        var demand = JobDemand.Of("j", new ResourceRequest(4000, 1024, Gpus: 1));

        var relative = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        var paper = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFitPaper));

        Assert.That(relative.Find(demand, [big, small]).Allocation!.NodeId, Is.EqualTo("big"));
        Assert.That(paper.Find(demand, [big, small]).Allocation!.NodeId, Is.EqualTo("small"));
        var scores = paper.Explain(demand, [big, small]).ToDictionary(v => v.NodeId, v => v.Score);
        Assert.That(scores["big"], Is.EqualTo(57));
        Assert.That(scores["small"], Is.EqualTo(89));
    }

    [Test]
    public void Best_fit_paper_gives_an_integer_tie_to_the_earlier_node()
    {
        // Job: 1 GPU, 1 core on idle 8-GPU nodes of 98 and 97 cores (listed in that order).
        // 98 cores: 1 − (0.5·97000/128000 + 0.5·7000/8000) = 0.1836 → 18.
        // 97 cores: 1 − (0.5·96000/128000 + 0.5·7000/8000) = 0.1875 → 18. A tie: the first listed wins,
        // where the relative best-fit prefers the tighter 97-core node (0.5·96/97 < 0.5·97/98).
        var n98 = Nodes.Node("n98", gpus: 8, cpu: 98_000);
        var n97 = Nodes.Node("n97", gpus: 8, cpu: 97_000);
        var demand = JobDemand.Of("j", new ResourceRequest(1000, 1024, Gpus: 1));

        Assert.That(new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFitPaper)).Find(demand, [n98, n97]).Allocation!.NodeId, Is.EqualTo("n98"));
        Assert.That(new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit)).Find(demand, [n98, n97]).Allocation!.NodeId, Is.EqualTo("n97"));
    }

    [Test]
    public void Best_fit_paper_puts_a_shared_job_on_the_fullest_gpu_with_room()
    {
        // GPU 0 idle, GPU 1 has 600 free: the node's score is the same either way (the leftover is a
        // node total); within the node the simulator's best-fit GPU choice takes GPU 1.
        var node = Nodes.Node("n", gpus: 2);
        node.Allocate(new Allocation("x", "n", new ResourceRequest(100, 100, GpuMilli: 400), [new GpuShare(1, 400)]));

        var outcome = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFitPaper))
            .Find(JobDemand.Of("j", new ResourceRequest(100, 100, GpuMilli: 300)), [node]);

        Assert.That(outcome.Allocation!.Gpus, Is.EqualTo(new[] { new GpuShare(1, 300) }));
    }

    [Test]
    public void Fgd_scores_the_truncated_sigmoid_of_the_fragmentation_decrease()
    {
        // The workload's only task shape asks 600 milli of one GPU (weight 1). A 1-GPU node:
        // before, 1000 free fits it (fragment 0); after a 500-milli job, 500 free is too small, so all
        // 500 are fragment. Decrease (0 − 500)/1000 = −0.5 GPU: 100/(1 + e^0.5) = 37.75 → 37.
        // A 2-GPU node whose GPU 0 already holds 500: before, GPU 0's 500 free are fragment (the shape
        // still fits GPU 1); the job fills GPU 0, leaving no fragment: +0.5 GPU → 100/(1 + e^−0.5) =
        // 62.25 → 62 (its other choice, GPU 1, scores 37 like the 1-GPU node). It wins, on GPU 0.
        var workload = TaskDistribution.FromDemands([JobDemand.Of("t", new ResourceRequest(1000, 1024, GpuMilli: 600))]);
        var one = Nodes.Node("one", gpus: 1);
        var two = Nodes.Node("two", gpus: 2);
        two.Allocate(new Allocation("x", "two", new ResourceRequest(100, 100, GpuMilli: 500), [new GpuShare(0, 500)]));
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.Fgd, 42, workload));
        var demand = JobDemand.Of("j", new ResourceRequest(1000, 1024, GpuMilli: 500));

        var scores = engine.Explain(demand, [one, two]).ToDictionary(v => v.NodeId, v => v.Score);

        Assert.That(scores["one"], Is.EqualTo(37));
        Assert.That(scores["two"], Is.EqualTo(62));
        Assert.That(engine.Find(demand, [one, two]).Allocation!.Gpus, Is.EqualTo(new[] { new GpuShare(0, 500) }));
    }

    [Test]
    public void Typical_weights_are_renormalised_over_the_shapes_kept()
    {
        // 19 tasks of shape a, 1 of shape b: the 95% cut keeps a alone (19/20 = 95%), whose weight
        // is then 1, not 0.95 (the simulator renormalises after the cut).
        var demands = Enumerable.Range(0, 19).Select(i => JobDemand.Of($"a{i}", new ResourceRequest(1000, 1024, Gpus: 1)))
            .Append(JobDemand.Of("b", new ResourceRequest(2000, 1024, Gpus: 2)));

        var typical = TaskDistribution.FromDemands(demands).Typical;

        Assert.That(typical, Has.Count.EqualTo(1));
        Assert.That(typical[0].Weight, Is.EqualTo(1.0).Within(1e-12));
    }
}
