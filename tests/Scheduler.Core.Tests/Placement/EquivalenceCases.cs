using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// What the placement equivalence and bound tests share: the policies they run, the policy as the
/// master builds it, one job placed by the engine's fast path and by the plain scan, and the bound
/// checked against the exact best score.
/// </summary>
internal static class EquivalenceCases
{
    private static readonly IReadOnlyCollection<string> NoKeys = [];
    private static readonly IReadOnlyCollection<string> OneKey = ["model-x"];
    private static readonly IReadOnlySet<string> CachedKeys = new HashSet<string>(StringComparer.Ordinal) { "model-x" };

    /// <summary>Every policy whose scores may be cached (no random tie-break), learning its shapes or not.</summary>
    public static IEnumerable<TestCaseData> CacheablePoliciesLearningOrNot =>
        PlacementPolicies.Names
            .Where(p => PlacementPolicies.Create(p) is ICacheableScores { ScoresCacheable: true } and not IRandomTieBreak { TieBreak: not null })
            .SelectMany(p => new[] { new TestCaseData(p, false), new TestCaseData(p, true) });

    /// <summary>Every policy that bounds its scores, learning its shapes or not.</summary>
    public static IEnumerable<TestCaseData> BoundingPoliciesLearningOrNot =>
        PlacementPolicies.Names
            .Where(p => PlacementPolicies.Create(p) is IScoreBounds { HasScoreBounds: true })
            .SelectMany(p => new[] { new TestCaseData(p, false), new TestCaseData(p, true) });

    /// <summary>The policy; with <paramref name="wrap"/>, as the master builds it: wrapped for affinity, some jobs with keys (scanned per node).</summary>
    public static IPlacementPolicy Build(string policy, int seed, TaskDistribution? workload, bool wrap)
    {
        var inner = PlacementPolicies.Create(policy, seed, workload);
        return wrap
            ? new AffinityPlacementPolicy(inner, id => id.EndsWith('7') ? OneKey : NoKeys, node => node.EndsWith('3') ? CachedKeys : null)
            : inner;
    }

    /// <summary>
    /// Places <paramref name="demand"/> through <paramref name="fast"/> on <paramref name="index"/> and through
    /// <paramref name="plain"/> on the node list, asserts the same node and GPUs (or the same refusal), and
    /// allocates it.
    /// </summary>
    public static void PlaceBoth(PlacementEngine fast, PlacementEngine plain, PlacementIndex index, NodeState[] nodes, List<Allocation> placed, JobDemand demand, string context)
    {
        var got = fast.FindAllocation(demand, index);
        var expected = plain.FindAllocation(demand, nodes);
        Assert.That(got is null, Is.EqualTo(expected is null), $"{context}: {demand}");
        if (got is null)
        {
            return;
        }

        Assert.That((got.NodeId, got.Gpus.ToArray()), Is.EqualTo((expected!.NodeId, expected.Gpus.ToArray())), $"{context}: {demand}");
        nodes.Single(n => n.Id == got.NodeId).Allocate(got);
        placed.Add(got);
    }

    /// <summary>
    /// Asserts, for every node that passes the filter for each demand, that the policy's bound is at least
    /// the node's exact best score; returns how many pairs were checked.
    /// </summary>
    public static int AssertBoundsHold(IPlacementPolicy placement, IReadOnlyList<JobDemand> demands, IReadOnlyList<NodeState> nodes, string context)
    {
        var engine = new PlacementEngine(placement);
        var bounds = (IScoreBounds)placement;
        var checkedPairs = 0;
        foreach (var demand in demands)
        {
            ((ICacheableScores)placement).Prepare(demand);
            foreach (var node in nodes)
            {
                var verdict = engine.Explain(demand, [node]).Single();
                if (verdict.Rejection is not null)
                {
                    continue;
                }

                var bound = bounds.Bound(demand, bounds.Measure(node), node.GpuFreeMilliTotal, node.GpuCapacityMilli);
                Assert.That(bound, Is.GreaterThanOrEqualTo(verdict.Score),
                    $"{context}: {demand.Resources} on {node.Id}: cpu {node.CpuFree} memory {node.MemoryFree} gpus [{string.Join(' ', node.GpuFreeMilli.ToArray())}] models [{string.Join(' ', node.Gpus.Select(g => g.Model))}]");
                checkedPairs++;
            }
        }

        return checkedPairs;
    }
}
