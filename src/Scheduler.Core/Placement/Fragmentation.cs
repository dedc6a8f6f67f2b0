using Scheduler.Core.Cluster;

namespace Scheduler.Core.Placement;

/// <summary>
/// The fragmentation measure of "Beware of Fragmentation" (FGD, ATC'23): a node's free GPU capacity
/// counts as fragmented for a typical task when the task cannot run there (too little CPU, no GPU
/// of its model, too few GPUs with room), and otherwise only the GPUs too small for it count. The
/// node's fragmentation is the expectation over the workload's typical tasks, in milli-GPU.
/// </summary>
public static class Fragmentation
{
    /// <summary>Expected fragmented milli-GPU of <paramref name="node"/> for the tasks of <paramref name="workload"/>.</summary>
    public static double OfNode(NodeState node, TaskDistribution workload, bool memoryAware = false)
    {
        var typical = workload.TypicalArray;
        var masks = AccessMasks(node, typical);
        return Compute(node.CpuFree, node.MemoryFree, node.GpuFreeMilli, masks, typical, memoryAware);
    }

    /// <summary>Sum of <see cref="OfNode"/> over <paramref name="nodes"/>.</summary>
    public static double OfCluster(IEnumerable<NodeState> nodes, TaskDistribution workload, bool memoryAware = false)
    {
        double sum = 0;
        foreach (var node in nodes)
        {
            sum += OfNode(node, workload, memoryAware);
        }

        return sum;
    }

    // Bit g set in mask[t] when GPU g of the node is of a model typical task t accepts.
    internal static ulong[] AccessMasks(NodeState node, IReadOnlyList<TypicalTask> typical)
    {
        var masks = new ulong[typical.Count];
        var gpuCount = Math.Min(node.Gpus.Count, 64);
        for (var t = 0; t < typical.Count; t++)
        {
            ulong mask = 0;
            for (var g = 0; g < gpuCount; g++)
            {
                if (node.GpuModelAllowed(g, typical[t].GpuModels))
                {
                    mask |= 1UL << g;
                }
            }

            masks[t] = mask;
        }

        return masks;
    }

    internal static double Compute(
        long cpuFree,
        long memoryFree,
        ReadOnlySpan<int> gpuFree,
        ulong[] masks,
        TypicalTask[] typical,
        bool memoryAware)
    {
        long total = 0;
        foreach (var f in gpuFree)
        {
            total += f;
        }

        if (total == 0)
        {
            return 0;
        }

        double frag = 0;
        var gpus = Math.Min(gpuFree.Length, 64);
        for (var t = 0; t < typical.Length; t++)
        {
            var task = typical[t];
            var mask = masks[t];

            // A CPU-only task uses no GPU, and a task that cannot use this model of GPU sees none:
            // for both, every free GPU here is fragment (the paper's XL/XR and no-access cases).
            if (task.GpuCount == 0 || mask == 0)
            {
                frag += task.Weight * total;
                continue;
            }

            var fits = 0;
            long tooSmall = 0;
            for (var g = 0; g < gpus; g++)
            {
                if (((mask >> g) & 1) != 0 && gpuFree[g] >= task.GpuMilli)
                {
                    fits++;
                }
                else
                {
                    tooSmall += gpuFree[g];
                }
            }

            var hostable = fits >= task.GpuCount && cpuFree >= task.CpuMillis && (!memoryAware || memoryFree >= task.MemoryMib);
            frag += task.Weight * (hostable ? tooSmall : total);
        }

        return frag;
    }
}
