using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Cluster;

/// <summary>
/// One node's capacity and what is allocated on it, GPU by GPU. Mutable: owned by the single
/// scheduling loop (or a simulation), never shared across threads.
/// </summary>
public sealed class NodeState
{
    private readonly int[] _gpuFreeMilli;
    // Per GPU: its model and, where reported, its place in the topology.
    private readonly ulong[] _gpuModelHash;
    private readonly ulong _fixedHash;
    private readonly Dictionary<string, Allocation> _allocations = new(StringComparer.Ordinal);
    private ulong _gpuHash;
    private NodeHealth _health = NodeHealth.Ready;
    private bool _cordoned;
    private bool _draining;

    /// <summary>Creates an idle node.</summary>
    public NodeState(
        string id,
        long cpuMillis,
        long memoryMib,
        IReadOnlyList<GpuDevice> gpus,
        IReadOnlyDictionary<string, string>? labels = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentOutOfRangeException.ThrowIfNegative(cpuMillis);
        ArgumentOutOfRangeException.ThrowIfNegative(memoryMib);
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

        _gpuModelHash = new ulong[gpus.Count];
        var fixedHash = Mix((ulong)cpuMillis) ^ Mix((ulong)memoryMib * 31);
        var models = 14695981039346656037UL;
        for (var i = 0; i < gpus.Count; i++)
        {
            // Where a GPU sits changes which sets it can form, so it is part of what makes two nodes alike.
            var topology = gpus[i].Topology;
            HasTopology |= topology.HasAny();
            var modelHash = HashString(gpus[i].Model.ToUpperInvariant());
            models = Mix(models ^ modelHash);
            _gpuModelHash[i] = modelHash
                ^ (topology.HasAny() ? Mix(((ulong)(uint)topology.NvLinkIsland << 42) ^ ((ulong)(uint)topology.PcieSwitch << 21) ^ (uint)topology.NumaNode) : 0);
            _gpuHash += GpuTerm(i);
        }

        GpuModelsKey = models;

        foreach (var (key, value) in Labels)
        {
            fixedHash += Mix(HashString(key) ^ (HashString(value) * 7));
        }

        _fixedHash = fixedHash;
    }

    /// <summary>Unique node name.</summary>
    public string Id { get; }

    /// <summary>Allocatable CPU in millicores.</summary>
    public long CpuCapacity { get; }

    /// <summary>Allocatable memory in MiB.</summary>
    public long MemoryCapacity { get; }

    /// <summary>The node's GPUs, by index.</summary>
    public IReadOnlyList<GpuDevice> Gpus { get; }

    /// <summary>True when the worker reported an NVLink island, PCIe switch or NUMA node for any GPU.</summary>
    public bool HasTopology { get; }

    /// <summary>Labels matched by job node selectors.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; }

    /// <summary>CPU not yet allocated, in millicores.</summary>
    public long CpuFree { get; private set; }

    /// <summary>Memory not yet allocated, in MiB.</summary>
    public long MemoryFree { get; private set; }

    /// <summary>Health as judged by the failure detector.</summary>
    public NodeHealth Health
    {
        get => _health;
        set
        {
            _health = value;
            Index?.OnChanged(this);
        }
    }

    /// <summary>Cordoned nodes keep their work but get nothing new.</summary>
    public bool Cordoned
    {
        get => _cordoned;
        set
        {
            _cordoned = value;
            Index?.OnChanged(this);
        }
    }

    /// <summary>A draining node is cordoned and is having its work moved away.</summary>
    public bool Draining
    {
        get => _draining;
        set
        {
            _draining = value;
            Index?.OnChanged(this);
        }
    }

    /// <summary>True when new work may be placed here.</summary>
    public bool Schedulable => Health == NodeHealth.Ready && !Cordoned && !Draining;

    /// <summary>Free milli-GPU of each GPU, by index.</summary>
    public ReadOnlySpan<int> GpuFreeMilli => _gpuFreeMilli;

    /// <summary>Sum of free milli-GPU over all GPUs.</summary>
    public long GpuFreeMilliTotal { get; private set; }

    /// <summary>Total milli-GPU of the node.</summary>
    public long GpuCapacityMilli => Gpus.Count * (long)ResourceLimits.MilliPerGpu;


    /// <summary>
    /// A 64-bit digest of everything placement looks at except the node's name: capacities, labels,
    /// free CPU and memory, and the multiset of (GPU model, free milli-GPU). Nodes with equal keys are
    /// (up to a negligible hash collision) interchangeable, which lets the engine score each
    /// equivalence class once instead of every node.
    /// </summary>
    public ulong EquivalenceKey => _fixedHash ^ Mix(_gpuHash + ((ulong)CpuFree * 0x9E3779B97F4A7C15UL) + Mix((ulong)MemoryFree));

    /// <summary>Digest of the GPU models in index order: nodes with equal keys see typical tasks alike.</summary>
    internal ulong GpuModelsKey { get; }

    /// <summary>The placement index told of this node's changes (the newest one built over it).</summary>
    internal PlacementIndex? Index { get; set; }

    /// <summary>This node's position in <see cref="Index"/>.</summary>
    internal int IndexSlot { get; set; }

    /// <summary>What is allocated here, by job id.</summary>
    public IReadOnlyDictionary<string, Allocation> Allocations => _allocations;

    /// <summary>
    /// Grows by one with every allocation recorded or released: a reader that keeps something derived from
    /// <see cref="Allocations"/> knows it is still current while this has not moved.
    /// </summary>
    public long AllocationsVersion { get; private set; }

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
    public bool GpuModelAllowed(int index, IReadOnlyList<string> models)
    {
        // The list overload indexes instead of enumerating: no enumerator is boxed per GPU checked.
        if (models.Count == 0)
        {
            return true;
        }

        var model = Gpus[index].Model;
        for (var i = 0; i < models.Count; i++)
        {
            if (string.Equals(models[i], model, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when GPU <paramref name="index"/> is of a model the job accepts.</summary>
    public bool GpuModelAllowed(int index, IReadOnlyCollection<string> models)
    {
        if (models.Count == 0)
        {
            return true;
        }

        var model = Gpus[index].Model;
        foreach (var m in models)
        {
            if (string.Equals(m, model, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Records an allocation. Throws when it does not fit: callers check first.</summary>
    public void Allocate(Allocation allocation)
    {
        if (_allocations.ContainsKey(allocation.JobId))
        {
            throw new InvalidOperationException($"Job {allocation.JobId} is already allocated on {Id}.");
        }

        var r = allocation.Resources;
        if (r.CpuMillis < 0 || r.MemoryMib < 0)
        {
            throw new InvalidOperationException($"Job {allocation.JobId} asks for negative CPU or memory.");
        }

        if (r.CpuMillis > CpuFree || r.MemoryMib > MemoryFree)
        {
            throw new InvalidOperationException($"Job {allocation.JobId} does not fit CPU/memory on {Id}.");
        }

        var gpus = allocation.Gpus;
        for (var s = 0; s < gpus.Count; s++)
        {
            var share = gpus[s];
            if ((uint)share.Index >= (uint)_gpuFreeMilli.Length || share.Milli <= 0)
            {
                throw new InvalidOperationException($"Job {allocation.JobId} names an invalid GPU share {share} on {Id}.");
            }

            // Two shares may name the same GPU: check their sum, or they would overdraw it together.
            var onThisGpu = 0;
            for (var t = 0; t < gpus.Count; t++)
            {
                if (gpus[t].Index == share.Index)
                {
                    onThisGpu += gpus[t].Milli;
                }
            }

            if (_gpuFreeMilli[share.Index] < onThisGpu)
            {
                throw new InvalidOperationException($"Job {allocation.JobId} does not fit GPU {share.Index} on {Id}.");
            }
        }

        CpuFree -= r.CpuMillis;
        MemoryFree -= r.MemoryMib;
        for (var s = 0; s < gpus.Count; s++)
        {
            var share = gpus[s];
            SetGpuFree(share.Index, _gpuFreeMilli[share.Index] - share.Milli);
            GpuFreeMilliTotal -= share.Milli;
        }

        _allocations.Add(allocation.JobId, allocation);
        AllocationsVersion++;
        Index?.OnChanged(this);
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
            SetGpuFree(share.Index, _gpuFreeMilli[share.Index] + share.Milli);
            GpuFreeMilliTotal += share.Milli;
        }

        AllocationsVersion++;
        Index?.OnChanged(this);
        return true;
    }

    /// <summary>
    /// A separate copy of this node (health, cordon and allocations included) without
    /// <paramref name="jobId"/>'s allocation: for asking what placement would do were that job not here.
    /// </summary>
    public NodeState CopyWithout(string jobId) => CopyWithout([jobId]);

    /// <summary>A copy of this node as if the allocations <paramref name="jobIds"/> were released (this node is not changed).</summary>
    public NodeState CopyWithout(IReadOnlyCollection<string> jobIds)
    {
        ArgumentNullException.ThrowIfNull(jobIds);
        var copy = new NodeState(Id, CpuCapacity, MemoryCapacity, Gpus, Labels)
        {
            Health = Health,
            Cordoned = Cordoned,
            Draining = Draining,
        };
        foreach (var allocation in _allocations.Values)
        {
            if (!jobIds.Contains(allocation.JobId, StringComparer.Ordinal))
            {
                copy.Allocate(allocation);
            }
        }

        return copy;
    }

    private static ulong Mix(ulong x)
    {
        // SplitMix64 finaliser: cheap and spreads small integers over all 64 bits.
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private static ulong HashString(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return h;
    }

    private ulong GpuTerm(int index) => Mix(_gpuModelHash[index] ^ ((ulong)_gpuFreeMilli[index] * 0xD6E8FEB86659FD93UL));

    private void SetGpuFree(int index, int free)
    {
        _gpuHash -= GpuTerm(index);
        _gpuFreeMilli[index] = free;
        _gpuHash += GpuTerm(index);
    }
}
