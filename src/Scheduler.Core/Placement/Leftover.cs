using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>Free capacity a node would keep after a placement, as a fraction in [0, 1].</summary>
internal static class Leftover
{
    public static double After(NodeState node, ResourceRequest request, IReadOnlyList<GpuShare> gpus)
    {
        var cpu = node.CpuCapacity == 0 ? 0 : (double)(node.CpuFree - request.CpuMillis) / node.CpuCapacity;
        if (node.Gpus.Count == 0)
        {
            return cpu;
        }

        long taken = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            taken += gpus[i].Milli;
        }

        var gpu = (double)(node.GpuFreeMilliTotal - taken) / node.GpuCapacityMilli;

        // Within a node, prefer (for best-fit) the fullest shared GPU: a tiny tie-breaker that
        // never outweighs the node-level difference.
        double slot = 0;
        if (request.IsSharedGpu && gpus.Count == 1)
        {
            slot = (node.GpuFreeMilli[gpus[0].Index] - gpus[0].Milli) / 1000.0 * 1e-3;
        }

        return (0.5 * cpu) + (0.5 * gpu) + slot;
    }
}
