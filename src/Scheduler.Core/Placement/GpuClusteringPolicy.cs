using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// GPU clustering baseline: keep tasks of the same GPU request together. A node that hosts only
/// this kind of task is best, then one hosting it among others, then an idle node, then a node of
/// other kinds; within a band the fuller node wins. Homogeneous nodes pack without odd remainders.
/// </summary>
internal sealed class GpuClusteringPolicy : IPlacementPolicy
{
    public string Name => PlacementPolicyNames.GpuClustering;

    public bool ScoresNodeStateOnly => false;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        var tieBreak = -Leftover.After(node, demand.Resources, gpus) * 1e-3;
        var r = demand.Resources;
        if (!r.NeedsGpu || node.Gpus.Count == 0)
        {
            return tieBreak;
        }

        var same = false;
        var other = false;
        foreach (var allocation in node.Allocations.Values)
        {
            var a = allocation.Resources;
            if (!a.NeedsGpu)
            {
                continue;
            }

            if (a.Gpus == r.Gpus && a.GpuMilli == r.GpuMilli)
            {
                same = true;
            }
            else
            {
                other = true;
            }
        }

        var band = same ? (other ? 2 : 3) : (other ? 0 : 1);
        var used = 1 - ((double)node.GpuFreeMilliTotal / Math.Max(1, node.GpuCapacityMilli));
        return band + (used * 0.5) + tieBreak;
    }
}
