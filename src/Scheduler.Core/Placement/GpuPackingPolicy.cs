using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// GPU packing baseline: prefer sharing an already used GPU (the fuller the better), then idle
/// GPUs on a node already in use (fewer is better), and open an idle node last. It keeps whole
/// nodes free for multi-GPU jobs but ignores CPU, which strands GPUs on CPU-exhausted nodes.
/// </summary>
internal sealed class GpuPackingPolicy : IPlacementPolicy, ICacheableScores
{
    public string Name => PlacementPolicyNames.GpuPacking;

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    public int Prepare(JobDemand demand) => 0;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        // Best-fit only orders nodes within a band (and CPU-only jobs, which have no band).
        var tieBreak = -Leftover.After(node, demand.Resources, gpus) * 1e-3;
        if (gpus.Count == 0)
        {
            return tieBreak;
        }

        var idle = node.IdleGpuCount;
        if (idle == node.Gpus.Count)
        {
            return 1 - (idle * 0.01) + tieBreak;
        }

        var wholeUsed = 0;
        double freeOnShared = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            var free = node.GpuFreeMilli[gpus[i].Index];
            if (free == ResourceLimits.MilliPerGpu)
            {
                wholeUsed++;
            }
            else
            {
                freeOnShared += free / (double)ResourceLimits.MilliPerGpu;
            }
        }

        return wholeUsed > 0 ? 2 - (wholeUsed * 0.01) + tieBreak : 3 - (freeOnShared * 0.1) + tieBreak;
    }
}
