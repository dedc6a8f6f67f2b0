using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Queueing;

/// <summary>
/// A throw-away copy of one node's free capacity, for "what if these jobs were gone (or added)"
/// questions asked by backfill, preemption and rebalancing without touching the real node.
/// </summary>
internal sealed class NodeScratch
{
    private readonly int[] _gpuFree;

    public NodeScratch(NodeState node)
    {
        Node = node;
        CpuFree = node.CpuFree;
        MemoryFree = node.MemoryFree;
        _gpuFree = node.GpuFreeMilli.ToArray();
    }

    public NodeState Node { get; }

    public long CpuFree { get; private set; }

    public long MemoryFree { get; private set; }

    public ReadOnlySpan<int> GpuFree => _gpuFree;

    /// <summary>True when <paramref name="demand"/> may run on <paramref name="node"/> at all, capacity aside.</summary>
    public static bool Eligible(NodeState node, JobDemand demand)
    {
        if (!node.Schedulable)
        {
            return false;
        }

        foreach (var (key, value) in demand.NodeSelector)
        {
            if (!node.Labels.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        if (!demand.Resources.NeedsGpu)
        {
            return true;
        }

        for (var i = 0; i < node.Gpus.Count; i++)
        {
            if (node.GpuModelAllowed(i, demand.GpuModels))
            {
                return true;
            }
        }

        return false;
    }

    public void Release(Allocation allocation)
    {
        CpuFree += allocation.Resources.CpuMillis;
        MemoryFree += allocation.Resources.MemoryMib;
        foreach (var share in allocation.Gpus)
        {
            _gpuFree[share.Index] += share.Milli;
        }
    }

    public bool CanTake(Allocation allocation)
    {
        if (allocation.Resources.CpuMillis > CpuFree || allocation.Resources.MemoryMib > MemoryFree)
        {
            return false;
        }

        foreach (var share in allocation.Gpus)
        {
            if ((uint)share.Index >= (uint)_gpuFree.Length || _gpuFree[share.Index] < share.Milli)
            {
                return false;
            }
        }

        return true;
    }

    public void Take(Allocation allocation)
    {
        CpuFree -= allocation.Resources.CpuMillis;
        MemoryFree -= allocation.Resources.MemoryMib;
        foreach (var share in allocation.Gpus)
        {
            _gpuFree[share.Index] -= share.Milli;
        }
    }

    /// <summary>Same capacity test as the placement engine's filter, on this copy.</summary>
    public bool Fits(JobDemand demand)
    {
        var r = demand.Resources;
        if (r.CpuMillis > CpuFree || r.MemoryMib > MemoryFree)
        {
            return false;
        }

        if (!r.NeedsGpu)
        {
            return true;
        }

        var fits = 0;
        for (var i = 0; i < _gpuFree.Length; i++)
        {
            if (Node.GpuModelAllowed(i, demand.GpuModels) &&
                (r.IsSharedGpu ? _gpuFree[i] >= r.GpuMilli : _gpuFree[i] == ResourceLimits.MilliPerGpu))
            {
                fits++;
            }
        }

        if (fits < (r.IsSharedGpu ? 1 : r.Gpus))
        {
            return false;
        }

        return r.IsSharedGpu || demand.RequiredTopology == TopologyLevel.System
            || GpuSetSelector.BestLevel(Node, _gpuFree, demand) >= demand.RequiredTopology;
    }

    /// <summary>
    /// GPU slices for <paramref name="demand"/> on this copy, choosing the fullest GPU that still
    /// has room for a share (keeps whole GPUs whole); null when it does not fit.
    /// </summary>
    public GpuShare[]? ChooseGpus(JobDemand demand)
    {
        if (!Fits(demand))
        {
            return null;
        }

        var r = demand.Resources;
        if (!r.NeedsGpu)
        {
            return [];
        }

        if (r.IsSharedGpu)
        {
            var best = -1;
            for (var i = 0; i < _gpuFree.Length; i++)
            {
                if (Node.GpuModelAllowed(i, demand.GpuModels) && _gpuFree[i] >= r.GpuMilli &&
                    (best < 0 || _gpuFree[i] < _gpuFree[best]))
                {
                    best = i;
                }
            }

            return [new GpuShare(best, r.GpuMilli)];
        }

        var shares = new List<GpuShare>(r.Gpus);
        return GpuSetSelector.TryChoose(Node, _gpuFree, demand, shares) ? [.. shares] : null;
    }
}
