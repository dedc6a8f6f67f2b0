using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using Scheduler.Core.Tests.Foundation;

namespace Scheduler.Core.Tests.Placement;

/// <summary>What `jobs why` is built on: every node's verdict, agreeing with the filter and with placement.</summary>
[TestFixture]
public sealed class ExplainTests
{
    [Test]
    public void Each_node_gets_the_filter_reason_or_a_score_and_the_best_score_is_where_placement_goes()
    {
        var busy = Nodes.Node("busy");
        busy.Allocate(new Allocation("other", "busy", new ResourceRequest(100, 64, 4, 0), [.. Enumerable.Range(0, 4).Select(i => new GpuShare(i, 1000))]));
        var cordoned = Nodes.Node("cordoned");
        cordoned.Cordoned = true;
        var nodes = new[] { busy, cordoned, Nodes.Node("h100", model: "H100"), Nodes.Node("free1"), Nodes.Node("free2", gpus: 8) };
        var demand = new JobDemand("j", new ResourceRequest(100, 64, 2, 0), ["A100"], new Dictionary<string, string>());
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));

        var verdicts = engine.Explain(demand, nodes);
        var placed = engine.FindAllocation(demand, nodes);

        Assert.That(verdicts.Select(v => (v.NodeId, v.Rejection)), Is.EqualTo(new[]
        {
            ("busy", "too few free GPUs"),
            ("cordoned", "cordoned"),
            ("h100", "no GPU of an allowed model"),
            ("free1", (string?)null),
            ("free2", null),
        }));
        Assert.That(verdicts.Where(v => !v.Fits).Select(v => PlacementChecks.Of(v.Rejection!)), Is.EqualTo(new[] { "capacity", "cordon", "model" }));
        var best = verdicts.Where(v => v.Fits).MaxBy(v => v.Score)!;
        Assert.That(placed!.NodeId, Is.EqualTo(best.NodeId));
    }

    [Test]
    public void A_copy_without_a_job_frees_its_share_and_leaves_the_node_untouched()
    {
        var node = Nodes.Node("n1");
        node.Allocate(new Allocation("a", "n1", new ResourceRequest(1000, 1024, 1, 0), [new GpuShare(0, 1000)]));
        node.Allocate(new Allocation("b", "n1", new ResourceRequest(500, 512, 0, 300), [new GpuShare(1, 300)]));
        node.Cordoned = true;

        var copy = node.CopyWithout("a");

        Assert.That(copy.Allocations.Keys, Is.EqualTo(new[] { "b" }));
        Assert.That((copy.CpuFree, copy.IdleGpuCount, copy.Cordoned), Is.EqualTo((node.CpuCapacity - 500, 3, true)));
        Assert.That(node.Allocations.Keys, Is.EquivalentTo(new[] { "a", "b" }));
        Nodes.AssertConsistent(copy);
        Nodes.AssertConsistent(node);
    }
}
