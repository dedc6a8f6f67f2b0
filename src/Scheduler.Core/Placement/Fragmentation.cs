using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

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

    /// <summary>
    /// Groups typical tasks that see a node's GPUs alike (same access mask, same milli-GPU per GPU):
    /// <paramref name="groupOf"/>[t] is task t's group, or -1 for a task that sees no GPU (CPU-only, or
    /// no GPU of its model here). <see cref="Compute(long, long, ReadOnlySpan{int}, TypicalTask[], bool, int[], ulong[], int[])"/>
    /// then counts each group's fitting GPUs once instead of once per task.
    /// </summary>
    internal static void Group(ulong[] masks, TypicalTask[] typical, out int[] groupOf, out ulong[] groupMask, out int[] groupMilli)
    {
        groupOf = new int[typical.Length];
        var keys = new List<(ulong Mask, int Milli)>();
        for (var t = 0; t < typical.Length; t++)
        {
            if (typical[t].GpuCount == 0 || masks[t] == 0)
            {
                groupOf[t] = -1;
                continue;
            }

            var key = (masks[t], typical[t].GpuMilli);
            var g = keys.IndexOf(key);
            if (g < 0)
            {
                g = keys.Count;
                keys.Add(key);
            }

            groupOf[t] = g;
        }

        groupMask = keys.Select(k => k.Mask).ToArray();
        groupMilli = keys.Select(k => k.Milli).ToArray();
    }

    /// <summary>
    /// The same value as <see cref="Compute(long, long, ReadOnlySpan{int}, ulong[], TypicalTask[], bool)"/>, bit for bit (the
    /// same terms added in the same order), with each group's GPUs counted once and only when some task of
    /// it has the CPU and memory to run: the cost follows the groups, not the tasks times the GPUs.
    /// </summary>
    internal static double Compute(
        long cpuFree,
        long memoryFree,
        ReadOnlySpan<int> gpuFree,
        TypicalTask[] typical,
        bool memoryAware,
        int[] groupOf,
        ulong[] groupMask,
        int[] groupMilli) =>
        Compute(cpuFree, memoryFree, gpuFree, typical, memoryAware, groupOf, groupMask, groupMilli, out _, out _);

    /// <summary>
    /// As above, and <paramref name="unhostable"/>: the summed weight of the typical tasks that cannot
    /// run on the node (all its free GPU capacity counts as their fragment), and <paramref name="partial"/>:
    /// that of the tasks that can but do not accept every idle GPU of the node. With them a policy
    /// bounds how much any placement on the node can lower the measure (<see cref="FgdPolicy"/>).
    /// </summary>
    internal static double Compute(
        long cpuFree,
        long memoryFree,
        ReadOnlySpan<int> gpuFree,
        TypicalTask[] typical,
        bool memoryAware,
        int[] groupOf,
        ulong[] groupMask,
        int[] groupMilli,
        out double unhostable,
        out double partial)
    {
        unhostable = 0;
        partial = 0;
        long total = 0;
        ulong idle = 0;
        foreach (var f in gpuFree)
        {
            total += f;
        }

        if (total == 0)
        {
            return 0;
        }

        var gpus = Math.Min(gpuFree.Length, 64);
        for (var i = 0; i < gpus; i++)
        {
            if (gpuFree[i] == ResourceLimits.MilliPerGpu)
            {
                idle |= 1UL << i;
            }
        }

        var groups = groupMask.Length;
        Span<int> fitsOf = groups <= 128 ? stackalloc int[groups] : new int[groups];
        Span<long> tooSmallOf = groups <= 128 ? stackalloc long[groups] : new long[groups];
        fitsOf.Fill(-1);
        double frag = 0;
        for (var t = 0; t < typical.Length; t++)
        {
            var task = typical[t];
            var g = groupOf[t];
            if (g < 0)
            {
                frag += task.Weight * total;
                unhostable += task.Weight;
                continue;
            }

            if (cpuFree < task.CpuMillis || (memoryAware && memoryFree < task.MemoryMib))
            {
                frag += task.Weight * total;
                unhostable += task.Weight;
                continue;
            }

            if (fitsOf[g] < 0)
            {
                var mask = groupMask[g];
                var milli = groupMilli[g];
                var fits = 0;
                long tooSmall = 0;
                for (var i = 0; i < gpus; i++)
                {
                    if (((mask >> i) & 1) != 0 && gpuFree[i] >= milli)
                    {
                        fits++;
                    }
                    else
                    {
                        tooSmall += gpuFree[i];
                    }
                }

                fitsOf[g] = fits;
                tooSmallOf[g] = tooSmall;
            }

            if (fitsOf[g] >= task.GpuCount)
            {
                frag += task.Weight * tooSmallOf[g];
                if ((idle & ~groupMask[g]) != 0)
                {
                    partial += task.Weight;
                }
            }
            else
            {
                frag += task.Weight * total;
                unhostable += task.Weight;
            }
        }

        return frag;
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
