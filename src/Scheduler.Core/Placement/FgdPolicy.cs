using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Fragmentation gradient descent (Weng et al., ATC'23): place the task where the expected
/// fragmentation of the node, measured against the workload's typical tasks, grows least.
/// Optionally (<see cref="FgdOptions"/>) memory stranding counts too and a best-fit term breaks
/// near-ties. Fragmentation values are memoised by node state: most nodes of a cluster pass through
/// the same few states, so the measure is rarely recomputed.
/// </summary>
internal sealed class FgdPolicy : IPlacementPolicy, ICacheableScores, IScoreBounds
{
    private const int MemoLimit = 1 << 20;

    // Ids remembered so that a job scored in many scheduling passes counts once; past this many the
    // oldest are forgotten (a job waiting longer than that many later arrivals may count again).
    private const int ObservedLimit = 1 << 18;
    private readonly TaskDistribution _workload;
    private readonly FgdOptions _options;
    private readonly bool _learn;
    private readonly Dictionary<ulong, NodeInfo> _infos = [];
    private readonly Dictionary<MemoKey, NodeMeasure> _memo = [];
    private readonly HashSet<string> _observed = new(StringComparer.Ordinal);
    private readonly Queue<string> _observedOrder = new();
    private NodeInfo? _lastInfo;
    private long[] _cpuSteps = [];
    private long[] _memorySteps = [];
    private double _weightSum;
    private int[] _scratch = new int[8];
    private int _version = -1;
    private string? _lastJobId;

    /// <summary>
    /// Scores against <paramref name="workload"/>; with none, learns the distribution from the jobs
    /// it is asked to place (the live master) and packs best-fit until it has seen one.
    /// </summary>
    public FgdPolicy(string name, TaskDistribution? workload, FgdOptions options)
    {
        Name = name;
        _learn = workload is null;
        _workload = workload is null
            ? new TaskDistribution(options.Coverage)
            : workload.Coverage == options.Coverage ? workload : workload.WithCoverage(options.Coverage);
        _options = options;
    }

    public string Name { get; }

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    // Learning changes the typical tasks (and every score) only when the set is rebuilt.
    public int Prepare(JobDemand demand)
    {
        Observe(demand);
        return _workload.Version;
    }

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        Observe(demand);
        EnsureVersion();

        var leftover = Leftover.After(node, demand.Resources, gpus);
        if (_workload.Typical.Count == 0)
        {
            return -leftover;
        }

        var info = InfoOf(node);
        var r = demand.Resources;
        var before = Frag(info, node.CpuFree, node.MemoryFree, node.GpuFreeMilli).First;

        var free = node.GpuFreeMilli;
        if (_scratch.Length < free.Length)
        {
            _scratch = new int[free.Length];
        }

        var after = _scratch.AsSpan(0, free.Length);
        free.CopyTo(after);
        for (var i = 0; i < gpus.Count; i++)
        {
            after[gpus[i].Index] -= gpus[i].Milli;
        }

        var fragAfter = Frag(info, node.CpuFree - r.CpuMillis, node.MemoryFree - r.MemoryMib, after).First;
        var decrease = (before - fragAfter) / ResourceLimits.MilliPerGpu;
        if (_options.AsPublished)
        {
            // The simulator's plugin truncates 100·sigmoid(decrease) to an integer. Its scheduler
            // (a patched kube-scheduler selectHost) gives a tie to the node whose name sorts first,
            // names it prefixed with a seeded random permutation: a fixed node order, not a fresh
            // draw per task. The engine gives ties to the earlier node, so the replay shuffles its
            // node list once per seed (AllocationReplay); the master keeps the order of its node list.
            return Published(r, decrease, node.GpuFreeMilliTotal, node.GpuCapacityMilli);
        }

        return decrease - (_options.PackingWeight * leftover);
    }

    // Bounds follow the published score only: frag-pack's packing term would need a bound of its own.
    public bool HasScoreBounds => _options.AsPublished;

    // Before any job was seen (no typical task) the score is best-fit's: no measure to bound it with.
    public NodeMeasure Measure(NodeState node)
    {
        EnsureVersion();
        return _workload.Typical.Count == 0
            ? new NodeMeasure(double.NaN, double.NaN, double.NaN)
            : Frag(InfoOf(node), node.CpuFree, node.MemoryFree, node.GpuFreeMilli);
    }

    /// <summary>
    /// How far the measure can fall when the task takes g milli-GPU here. A typical task that cannot
    /// run on the node before cannot after either (every free resource only shrinks), so its fragment
    /// (all free GPU) falls by exactly g. One that can run had only its too-small GPUs counted, and
    /// those shrink by at most g: summed, the fall is at most min(g·W, before − U·(total − g)), with W
    /// the weights' sum and U the weight of the tasks that cannot run. A whole-GPU task takes idle GPUs,
    /// which fit every task that accepts them: for such a task its fragment cannot fall at all (its
    /// too-small GPUs stay as they were, or it can no longer run, and then at least g of what fitted
    /// becomes fragment), so the fall is at most g·(U + P), P the weight of the tasks that can run but
    /// do not accept every idle GPU (<see cref="Fragmentation.Compute(long, long, ReadOnlySpan{int}, TypicalTask[], bool, int[], ulong[], int[], out double, out double)"/>).
    /// The published score is monotone in the fall, so this bounds the score; a small slack covers
    /// the rounding of the sums.
    /// </summary>
    public double Bound(JobDemand demand, NodeMeasure measure, long gpuFreeMilli, long gpuCapacityMilli)
    {
        if (double.IsNaN(measure.First))
        {
            return double.PositiveInfinity;
        }

        var r = demand.Resources;
        double g = r.TotalGpuMilli;
        var falls = Math.Min(g * _weightSum, measure.First - (measure.Second * (gpuFreeMilli - g)));
        if (!r.IsSharedGpu)
        {
            falls = Math.Min(falls, g * (measure.Second + measure.Third));
        }

        return Published(r, (falls / ResourceLimits.MilliPerGpu) + 1e-9, gpuFreeMilli, gpuCapacityMilli);
    }

    private double Published(ResourceRequest r, double decrease, long gpuFreeMilli, long gpuCapacityMilli)
    {
        var score = Math.Floor((r.IsSharedGpu ? _options.SharedLevels : _options.Levels) / (1 + Math.Exp(-decrease)));
        if (_options.ParkCpuOnly && !r.NeedsGpu && gpuCapacityMilli > 0)
        {
            // Below one level, so it only orders nodes of equal score: a CPU-only task that
            // strands nothing here takes the node with the least idle GPU, keeping the CPU of
            // nodes with idle GPUs for the GPU tasks to come.
            score += 0.5 * (1 - ((double)gpuFreeMilli / gpuCapacityMilli));
        }

        return score;
    }

    private void EnsureVersion()
    {
        if (_workload.Version == _version)
        {
            return;
        }

        _version = _workload.Version;
        _infos.Clear();
        _lastInfo = null;
        _memo.Clear();
        _cpuSteps = Steps(_workload.TypicalArray, t => t.CpuMillis);
        _memorySteps = _options.MemoryAware ? Steps(_workload.TypicalArray, t => t.MemoryMib) : [];
        _weightSum = _workload.TypicalArray.Sum(t => t.Weight);
    }

    // What the typical tasks see of a node depends on its GPU models only: one entry per model
    // layout (a handful in a cluster) rather than per node, cheap to rebuild when the set changes.
    private NodeInfo InfoOf(NodeState node)
    {
        var info = _lastInfo;
        if (info is null || info.ModelsKey != node.GpuModelsKey)
        {
            if (!_infos.TryGetValue(node.GpuModelsKey, out info))
            {
                info = new NodeInfo(node, _workload.Typical);
                _infos.Add(node.GpuModelsKey, info);
            }

            _lastInfo = info;
        }

        return info;
    }

    /// <summary>The distribution scored against: the trace's, or the one learnt from observed jobs.</summary>
    internal TaskDistribution Workload => _workload;

    // The master scores every waiting job again in each scheduling pass: a job counts once, by its id,
    // or long-waiting shapes would weigh more than the workload holds them. The engine calls this for
    // every node it scores, so the same id as the last call returns at once.
    private void Observe(JobDemand demand)
    {
        if (!_learn || ReferenceEquals(demand.JobId, _lastJobId))
        {
            return;
        }

        _lastJobId = demand.JobId;
        if (!_observed.Add(demand.JobId))
        {
            return;
        }

        _observedOrder.Enqueue(demand.JobId);
        if (_observedOrder.Count > ObservedLimit)
        {
            _observed.Remove(_observedOrder.Dequeue());
        }

        _workload.Observe(demand);
    }

    // The measure (First), the weight of the typical tasks that cannot run (Second) and of those that
    // can but do not accept every idle GPU (Third).
    private NodeMeasure Frag(NodeInfo info, long cpu, long memory, ReadOnlySpan<int> gpuFree)
    {
        double unhostable, partial;
        if (!info.Memoisable)
        {
            var direct = Fragmentation.Compute(cpu, memory, gpuFree, _workload.TypicalArray, _options.MemoryAware, info.GroupOf, info.GroupMask, info.GroupMilli, out unhostable, out partial);
            return new NodeMeasure(direct, unhostable, partial);
        }

        Span<int> sorted = stackalloc int[gpuFree.Length];
        gpuFree.CopyTo(sorted);
        if (info.UniformModel)
        {
            // GPUs of one model are interchangeable: order does not change the measure.
            sorted.Sort();
        }

        ulong lo = 0, hi = 0;
        for (var g = 0; g < sorted.Length; g++)
        {
            var v = (ulong)(uint)sorted[g] & 0x7FF;
            if (g < 5)
            {
                lo |= v << (11 * g);
            }
            else
            {
                hi |= v << (11 * (g - 5));
            }
        }

        // The measure reads free CPU and memory only through comparisons with the typical tasks'
        // requests: nodes that pass the same ones share an entry, so the memo holds far fewer keys.
        var key = new MemoKey(info.ModelKey, Rank(_cpuSteps, cpu), Rank(_memorySteps, memory), lo, hi);
        if (_memo.TryGetValue(key, out var frag))
        {
            return frag;
        }

        // Masks of a uniform node are all-or-nothing, so the sorted order is as good as the real one.
        var value = Fragmentation.Compute(
            cpu, memory, info.UniformModel ? sorted : gpuFree, _workload.TypicalArray, _options.MemoryAware, info.GroupOf, info.GroupMask, info.GroupMilli, out unhostable, out partial);
        frag = new NodeMeasure(value, unhostable, partial);

        if (_memo.Count >= MemoLimit)
        {
            _memo.Clear();
        }

        _memo.Add(key, frag);
        return frag;
    }

    // The distinct requests of the typical tasks, ascending.
    private static long[] Steps(TypicalTask[] typical, Func<TypicalTask, long> request)
    {
        var steps = typical.Select(request).Distinct().ToArray();
        Array.Sort(steps);
        return steps;
    }

    // How many steps are at most value: equal for two values exactly when every request compares
    // the same with both.
    private static int Rank(long[] steps, long value)
    {
        int lo = 0, hi = steps.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (steps[mid] <= value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private readonly struct MemoKey(ulong models, long cpu, long memory, ulong lo, ulong hi) : IEquatable<MemoKey>
    {
        private readonly ulong _models = models;
        private readonly long _cpu = cpu;
        private readonly long _memory = memory;
        private readonly ulong _lo = lo;
        private readonly ulong _hi = hi;

        public bool Equals(MemoKey other) =>
            _lo == other._lo && _cpu == other._cpu && _memory == other._memory && _hi == other._hi && _models == other._models;

        public override bool Equals(object? obj) => obj is MemoKey other && Equals(other);

        // Multiply-xorshift over the fields: cheaper than HashCode.Combine and spreads well enough.
        public override int GetHashCode()
        {
            var h = (_lo * 0x9E3779B97F4A7C15UL) ^ _models;
            h = ((h ^ (h >> 29)) + (ulong)_cpu) * 0xBF58476D1CE4E5B9UL;
            h = ((h ^ (h >> 31)) + (ulong)_memory + (_hi * 0x94D049BB133111EBUL)) * 0x9E3779B97F4A7C15UL;
            return (int)(h >> 32);
        }
    }

    private sealed class NodeInfo
    {
        public NodeInfo(NodeState node, IReadOnlyList<TypicalTask> typical)
        {
            Masks = Fragmentation.AccessMasks(node, typical);
            Fragmentation.Group(Masks, [.. typical], out var groupOf, out var groupMask, out var groupMilli);
            GroupOf = groupOf;
            GroupMask = groupMask;
            GroupMilli = groupMilli;
            ModelsKey = node.GpuModelsKey;
            var models = node.Gpus.Select(g => g.Model.ToUpperInvariant()).ToArray();
            UniformModel = models.Distinct(StringComparer.Ordinal).Count() <= 1;

            // Memo keys pack 11 bits per GPU into two words; larger nodes are computed directly.
            Memoisable = models.Length <= 10;
            ulong h = 14695981039346656037UL;
            foreach (var c in string.Join('|', models))
            {
                h = (h ^ c) * 1099511628211UL;
            }

            ModelKey = h;
        }

        public ulong[] Masks { get; }

        // Typical tasks that see this node's GPUs alike, counted once per measure (Fragmentation.Group).
        public int[] GroupOf { get; }

        public ulong[] GroupMask { get; }

        public int[] GroupMilli { get; }

        public bool UniformModel { get; }

        public bool Memoisable { get; }

        public ulong ModelKey { get; }

        public ulong ModelsKey { get; }
    }
}
