using Scheduler.Core.Resources;

namespace Scheduler.Core.Cluster;

/// <summary>
/// One node's capacity and what is allocated on it, GPU by GPU. Mutable: owned by the single
/// scheduling loop (or a simulation), never shared across threads.
/// </summary>
public sealed class NodeState
{
    private readonly int[] _gpuFreeMilli;
    private readonly Dictionary<string, Allocation> _allocations = new(StringComparer.Ordinal);

    /// <summary>Creates an idle node.</summary>
    public NodeState(
        string id,
        long cpuMillis,
        long memoryMib,
        IReadOnlyList<GpuDevice> gpus,
        IReadOnlyDictionary<string, string>? labels = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        Id = id;
        CpuCapacity = cpuMillis;
        MemoryCapacity = memoryMib;
        Gpus = gpus;
        Labels = labels ?? new Dictionary<string, string>();
        CpuFree = cpuMillis;
        MemoryFree = memoryMib;
        _gpuFreeMilli = new int[gpus.Count];
        Array.Fill(_gpuFreeMilli, ResourceLimits.MilliPerGpu);
        GpuFreeMilliTotal = GpuCapacityMilli;
    }

    /// <summary>Unique node name.</summary>
    public string Id { get; }

    /// <summary>Allocatable CPU in millicores.</summary>
    public long CpuCapacity { get; }

    /// <summary>Allocatable memory in MiB.</summary>
    public long MemoryCapacity { get; }

    /// <summary>The node's GPUs, by index.</summary>
    public IReadOnlyList<GpuDevice> Gpus { get; }

    /// <summary>Labels matched by job node selectors.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; }

    /// <summary>CPU not yet allocated, in millicores.</summary>
    public long CpuFree { get; private set; }

    /// <summary>Memory not yet allocated, in MiB.</summary>
    public long MemoryFree { get; private set; }

    /// <summary>Health as judged by the failure detector.</summary>
    public NodeHealth Health { get; set; } = NodeHealth.Ready;

    /// <summary>Cordoned nodes keep their work but get nothing new.</summary>
    public bool Cordoned { get; set; }

    /// <summary>A draining node is cordoned and is having its work moved away.</summary>
    public bool Draining { get; set; }

    /// <summary>True when new work may be placed here.</summary>
    public bool Schedulable => Health == NodeHealth.Ready && !Cordoned && !Draining;

    /// <summary>Free milli-GPU of each GPU, by index.</summary>
    public ReadOnlySpan<int> GpuFreeMilli => _gpuFreeMilli;

    /// <summary>Sum of free milli-GPU over all GPUs.</summary>
    public long GpuFreeMilliTotal { get; private set; }

    /// <summary>Total milli-GPU of the node.</summary>
    public long GpuCapacityMilli => Gpus.Count * (long)ResourceLimits.MilliPerGpu;

    /// <summary>What is allocated here, by job id.</summary>
    public IReadOnlyDictionary<string, Allocation> Allocations => _allocations;

    /// <summary>Number of GPUs with nothing allocated.</summary>
    public int IdleGpuCount
    {
        get
        {
            var n = 0;
            foreach (var f in _gpuFreeMilli)
            {
                if (f == ResourceLimits.MilliPerGpu)
                {
                    n++;
                }
            }

            return n;
        }
    }

    /// <summary>True when GPU <paramref name="index"/> is of a model the job accepts.</summary>
    public bool GpuModelAllowed(int index, IReadOnlyCollection<string> models) =>
        models.Count == 0 || models.Contains(Gpus[index].Model, StringComparer.OrdinalIgnoreCase);

    /// <summary>Records an allocation. Throws when it does not fit: callers check first.</summary>
    public void Allocate(Allocation allocation)
    {
        if (_allocations.ContainsKey(allocation.JobId))
        {
            throw new InvalidOperationException($"Job {allocation.JobId} is already allocated on {Id}.");
        }

        var r = allocation.Resources;
        if (r.CpuMillis > CpuFree || r.MemoryMib > MemoryFree)
        {
            throw new InvalidOperationException($"Job {allocation.JobId} does not fit CPU/memory on {Id}.");
        }

        foreach (var share in allocation.Gpus)
        {
            if ((uint)share.Index >= (uint)_gpuFreeMilli.Length || _gpuFreeMilli[share.Index] < share.Milli)
            {
                throw new InvalidOperationException($"Job {allocation.JobId} does not fit GPU {share.Index} on {Id}.");
            }
        }

        CpuFree -= r.CpuMillis;
        MemoryFree -= r.MemoryMib;
        foreach (var share in allocation.Gpus)
        {
            _gpuFreeMilli[share.Index] -= share.Milli;
            GpuFreeMilliTotal -= share.Milli;
        }

        _allocations.Add(allocation.JobId, allocation);
    }

    /// <summary>Frees what a job held here; returns false when it held nothing.</summary>
    public bool Release(string jobId)
    {
        if (!_allocations.Remove(jobId, out var allocation))
        {
            return false;
        }

        CpuFree += allocation.Resources.CpuMillis;
        MemoryFree += allocation.Resources.MemoryMib;
        foreach (var share in allocation.Gpus)
        {
            _gpuFreeMilli[share.Index] += share.Milli;
            GpuFreeMilliTotal += share.Milli;
        }

        return true;
    }
}
