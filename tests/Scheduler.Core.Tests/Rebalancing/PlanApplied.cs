using Scheduler.Core.Cluster;
using Scheduler.Core.Rebalancing;

namespace Scheduler.Core.Tests.Rebalancing;

/// <summary>What a rebalancing plan leaves: the plan applied to copies of the nodes, through NodeState itself, which throws on any overcommit.</summary>
internal static class PlanApplied
{
    public static IReadOnlyCollection<NodeState> To(Dictionary<string, NodeState> nodes, IReadOnlyList<Migration> plan)
    {
        var copies = nodes.ToDictionary(kv => kv.Key, kv =>
        {
            var n = kv.Value;
            var copy = new NodeState(n.Id, n.CpuCapacity, n.MemoryCapacity, n.Gpus, n.Labels);
            foreach (var a in n.Allocations.Values)
            {
                copy.Allocate(a);
            }

            return copy;
        });
        foreach (var m in plan)
        {
            Assert.That(copies[m.FromNode].Release(m.JobId), Is.True);
            copies[m.ToNode].Allocate(m.Target);
        }

        return copies.Values;
    }

    public static string Describe(Migration m) => $"{m.JobId}:{m.FromNode}->{m.ToNode}:{string.Join(',', m.Target.Gpus)}";
}
