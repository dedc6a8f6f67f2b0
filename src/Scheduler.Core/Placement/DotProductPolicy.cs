using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Tetris's alignment heuristic as the FGD paper's baseline uses it: the dot product of the
/// request and the node's free capacity, both normalised by the node's capacity; the smallest
/// product wins, so the job lands where its own dimensions are scarcest and the node fills evenly.
/// </summary>
internal sealed class DotProductPolicy : IPlacementPolicy, ICacheableScores
{
    public string Name => PlacementPolicyNames.DotProduct;

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    public int Prepare(JobDemand demand) => 0;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        var r = demand.Resources;
        var dot = node.CpuCapacity == 0 ? 0 : (double)r.CpuMillis * node.CpuFree / ((double)node.CpuCapacity * node.CpuCapacity);
        if (node.Gpus.Count > 0 && gpus.Count > 0)
        {
            double free;
            double cap;
            if (r.IsSharedGpu)
            {
                // A shared task sees the one GPU it would share, as the simulator's per-GPU dimension does.
                free = node.GpuFreeMilli[gpus[0].Index];
                cap = ResourceLimits.MilliPerGpu;
            }
            else
            {
                free = node.GpuFreeMilliTotal;
                cap = node.GpuCapacityMilli;
            }

            dot += r.TotalGpuMilli * free / (cap * cap);
        }

        return -dot;
    }
}
