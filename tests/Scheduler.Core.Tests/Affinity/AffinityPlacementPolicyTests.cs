using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Affinity;

public sealed class AffinityPlacementPolicyTests
{
    private static readonly Dictionary<string, IReadOnlyCollection<string>> JobKeys = new() { ["job"] = ["llama-70b"] };

    [Test]
    public void Prefers_the_node_that_caches_the_key_when_packing_ties()
    {
        var nodes = new[] { Node("n1", gpus: 8), Node("n2", gpus: 8) };
        var cache = new Dictionary<string, IReadOnlySet<string>> { ["n2"] = new HashSet<string> { "llama-70b" } };

        Assert.That(Place(nodes, cache, withAffinity: false), Is.EqualTo("n1"), "ties go to the first node without affinity");
        Assert.That(Place(nodes, cache, withAffinity: true), Is.EqualTo("n2"));
    }

    [Test]
    public void Does_not_give_up_a_clearly_tighter_packing_for_a_cached_node()
    {
        var nodes = new[] { Node("n1", gpus: 8), Node("n2", gpus: 8) };
        nodes[0].Allocate(new Allocation("busy", "n1", new ResourceRequest(1000, 1024, 6), Enumerable.Range(0, 6).Select(i => new GpuShare(i, 1000)).ToArray()));
        var cache = new Dictionary<string, IReadOnlySet<string>> { ["n2"] = new HashSet<string> { "llama-70b" } };

        Assert.That(Place(nodes, cache, withAffinity: true), Is.EqualTo("n1"));
    }

    [Test]
    public void Exact_ties_go_to_the_earlier_node_as_the_wrapped_policy_gives_them()
    {
        // The published FGD scores idle nodes that differ only in spare CPU alike (an integer
        // score); its simulator gives the tie to the first node of a fixed order, and so does the
        // engine, whatever the seed.
        for (var seed = 1; seed <= 20; seed++)
        {
            var nodes = Enumerable.Range(0, 4).Select(i => Node($"n{i}", cpuCores: 32 + i, gpus: 8)).ToArray();
            var policy = new AffinityPlacementPolicy(PlacementPolicies.Create(PlacementPolicyNames.FgdMem, seed), _ => [], _ => null);
            var chosen = new PlacementEngine(policy).Find(JobDemand.Of("j", new ResourceRequest(1000, 1024, 1)), nodes).Allocation!.NodeId;
            Assert.That(chosen, Is.EqualTo("n0"), $"seed {seed}");
        }
    }

    [Test]
    public void Jobs_without_keys_score_as_the_inner_policy_does()
    {
        var inner = PlacementPolicies.Create(PlacementPolicyNames.BestFit);
        var policy = new AffinityPlacementPolicy(inner, _ => [], _ => new HashSet<string> { "x" });
        var node = Node("n1", gpus: 2);
        var demand = JobDemand.Of("other", new ResourceRequest(1000, 1024, 1));
        GpuShare[] gpus = [new(0, 1000)];

        Assert.That(policy.Score(node, demand, gpus), Is.EqualTo(inner.Score(node, demand, gpus)));
        Assert.That(policy.Name, Is.EqualTo(inner.Name + "+affinity"));
    }

    private static string? Place(NodeState[] nodes, Dictionary<string, IReadOnlySet<string>> cache, bool withAffinity)
    {
        var inner = PlacementPolicies.Create(PlacementPolicyNames.BestFit);
        IPlacementPolicy policy = withAffinity
            ? new AffinityPlacementPolicy(inner, id => JobKeys.GetValueOrDefault(id, []), id => cache.GetValueOrDefault(id))
            : inner;
        return new PlacementEngine(policy).Find(JobDemand.Of("job", new ResourceRequest(1000, 1024, 1)), nodes).Allocation?.NodeId;
    }
}
