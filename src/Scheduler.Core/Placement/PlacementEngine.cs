using System.Numerics;
using System.Runtime.InteropServices;
using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Filter then score: drops every node the job cannot run on, enumerates the GPU choices on the
/// rest, and lets the policy pick. When nothing fits, the reason counts why each node was dropped,
/// so `jobs get` can tell a user what to change. One engine serves one scheduling loop: it reuses
/// scratch buffers and is not thread-safe.
/// </summary>
public sealed class PlacementEngine
{
    private const string TooLittleCpuInTotal = "too little CPU in total";
    private const string TooLittleMemoryInTotal = "too little memory in total";
    private const string TooFewGpusInTotal = "too few GPUs in total";
    internal const string NoGpus = "no GPUs";
    internal const string NoAllowedGpuModel = "no GPU of an allowed model";
    internal const string NotReady = "not ready";
    internal const string CordonedReason = "cordoned";
    internal const string LabelsDoNotMatch = "labels do not match";
    internal const string TopologyPrefix = "topology ";

    private readonly IPlacementPolicy _policy;
    private readonly bool _dedupe;
    private readonly IPerJobNodeStateScoring? _perJob;
    private readonly Random? _tieBreak;
    private readonly ICacheableScores? _cacheable;
    private readonly IGpuTieBreak? _gpuTieBreak;
    private readonly ClassScoreCache _scores = new();
    private readonly ClassScoreTrees _trees = new();
    private readonly IScoreBounds? _bounds;
    private readonly ClassMeasureCache _measures = new();
    private readonly Dictionary<ulong, ulong> _modelMasks = [];
    private IReadOnlyList<string>? _maskModels;
    private readonly HashSet<ulong> _seenClasses = [];
    private readonly List<NodeState> _scratchNodes = [];
    private readonly List<GpuShare> _shares = new(8);
    private readonly List<GpuShare> _nodeBest = new(8);
    private readonly List<GpuShare> _best = new(8);

    /// <summary>Creates an engine that scores with <paramref name="policy"/>.</summary>
    public PlacementEngine(IPlacementPolicy policy)
    {
        _policy = policy;
        _dedupe = policy.ScoresNodeStateOnly;
        _perJob = policy as IPerJobNodeStateScoring;
        _tieBreak = (policy as IRandomTieBreak)?.TieBreak;
        _cacheable = policy is ICacheableScores { ScoresCacheable: true } cacheable ? cacheable : null;
        _gpuTieBreak = policy as IGpuTieBreak;
        _bounds = _cacheable is not null && policy is IScoreBounds { HasScoreBounds: true } bounds ? bounds : null;
    }

    /// <summary>The scoring policy.</summary>
    public IPlacementPolicy Policy => _policy;

    /// <summary>
    /// False scans the classes for cacheable policies instead of reading the per-shape score trees:
    /// the same choices, for benchmarks that compare the two side by side.
    /// </summary>
    internal bool ScoreTrees { get; init; } = true;

    /// <summary>
    /// Below this many distinct node states the class scan stays: it reads a few thousand packed
    /// capacities faster than the trees replay their changes (measured: best-fit at 1,000 nodes lost
    /// half its speed with trees, at 10,000 it gained). Tests set 0 to exercise the trees on small clusters.
    /// </summary>
    internal int ScoreTreeMinClasses { get; init; } = 2048;

    /// <summary>Finds the best place for <paramref name="demand"/>; does not allocate.</summary>
    public PlacementOutcome Find(JobDemand demand, IEnumerable<NodeState> nodes)
    {
        var allocation = FindAllocation(demand, nodes);
        return allocation is null
            ? new PlacementOutcome(null, DescribeRejections(demand, nodes))
            : new PlacementOutcome(allocation, null);
    }

    /// <summary>Like <see cref="Find(JobDemand, IEnumerable{NodeState})"/> over an index's nodes, without walking every node.</summary>
    public PlacementOutcome Find(JobDemand demand, PlacementIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        var allocation = FindAllocation(demand, index);
        return allocation is null
            ? new PlacementOutcome(null, DescribeRejections(demand, index.NodeArray))
            : new PlacementOutcome(allocation, null);
    }

    /// <summary>
    /// Like <see cref="Find(JobDemand, IEnumerable{NodeState})"/> but without explaining a failure: for callers (trace replay) that
    /// only need the allocation and would pay for a reason they never read.
    /// </summary>
    public Allocation? FindAllocation(JobDemand demand, IEnumerable<NodeState> nodes)
    {
        switch (nodes)
        {
            case NodeState[] array:
                return FindIn(demand, array);
            case List<NodeState> list:
                return FindIn(demand, CollectionsMarshal.AsSpan(list));
        }

        // One copy into a reused buffer is cheaper than an interface call per node.
        _scratchNodes.AddRange(nodes);
        try
        {
            return FindIn(demand, CollectionsMarshal.AsSpan(_scratchNodes));
        }
        finally
        {
            _scratchNodes.Clear();
        }
    }

    /// <summary>
    /// The same choice as over <see cref="PlacementIndex.Nodes"/> in order, up to ties: when the policy
    /// scores node state only, each class of identical nodes is scored once (by its earliest node)
    /// and classes without room are skipped by their free capacity, so the cost follows the number of
    /// distinct node states rather than nodes. Random tie-breaks draw among the tied classes.
    /// </summary>
    public Allocation? FindAllocation(JobDemand demand, PlacementIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        index.Refresh();
        if (!Dedupes(demand))
        {
            return FindIn(demand, index.NodeArray);
        }

        if (ScoreTrees && index.LiveCount >= ScoreTreeMinClasses && _cacheable is not null && _tieBreak is null && _trees.For(index, demand) is { } tree)
        {
            return FindByTree(demand, index, tree);
        }

        NodeState? bestNode = null;
        var bestSlot = int.MaxValue;
        var bestScore = double.NegativeInfinity;
        var bestHasGpus = false;
        var ties = 0;
        var r = demand.Resources;
        var gpuMilli = r.TotalGpuMilli;
        var shared = r.IsSharedGpu;
        var table = _cacheable is null ? null : _scores.For(index, demand);
        var prepared = table is null;
        var measured = false;
        var unconstrained = CapacityDecides(demand);
        var capacities = index.Capacities;
        for (var live = 0; live < capacities.Length; live++)
        {
            ref readonly var c = ref capacities[live];
            if (r.CpuMillis > c.CpuFree || r.MemoryMib > c.MemoryFree || gpuMilli > c.GpuFreeTotal
                || (shared ? c.MaxGpuFree < r.GpuMilli : c.IdleGpus < r.Gpus))
            {
                continue;
            }

            NodeState? node = null;
            var slot = 0;
            double score;
            var fresh = false;
            if (table is null)
            {
                // A class whose bound loses is passed over before its nodes are read, where the
                // capacity test was the whole filter.
                if (unconstrained && _bounds is not null && BoundOf(demand, index, live, ref measured) < bestScore)
                {
                    continue;
                }

                node = index.Representative(live, out slot);
                if (!unconstrained && !Passes(node, demand))
                {
                    continue;
                }

                if (_bounds is not null && BoundLoses(demand, index, live, slot, bestScore, bestSlot, ref measured))
                {
                    continue;
                }

                score = ScoreNode(node, demand);
                fresh = true;
            }
            else
            {
                if (!prepared)
                {
                    // The policy prepares (a learning one observes the job) where a scan would first
                    // have scored: at the first node that passes the filter.
                    if (!unconstrained)
                    {
                        node = index.Representative(live, out slot);
                        if (!Passes(node, demand))
                        {
                            continue;
                        }
                    }

                    prepared = true;
                    _scores.SetVersion(_cacheable!.Prepare(demand));
                }

                var stamp = _scores.Stamp(c.Generation);
                if (!table.TryGet(c.Id, stamp, out score))
                {
                    if (unconstrained && _bounds is not null && BoundOf(demand, index, live, ref measured) < bestScore)
                    {
                        continue;
                    }

                    if (node is null)
                    {
                        node = index.Representative(live, out slot);
                    }

                    if (!unconstrained && !Passes(node, demand))
                    {
                        table.Set(c.Id, stamp, double.NegativeInfinity);
                        continue;
                    }

                    if (_bounds is not null && BoundLoses(demand, index, live, slot, bestScore, bestSlot, ref measured))
                    {
                        continue;
                    }

                    score = ScoreNode(node, demand);
                    table.Set(c.Id, stamp, score);
                    fresh = true;
                }
            }

            if (double.IsNegativeInfinity(score) || score < bestScore)
            {
                continue;
            }

            if (node is null)
            {
                node = index.Representative(live, out slot);
            }

            // Random ties are drawn uniformly over nodes, as kube-scheduler does: a class of
            // identical nodes weighs as many nodes as it holds.
            var members = _tieBreak is null ? 1 : index.ClassSize(live);
            if (score > bestScore)
            {
                ties = members;
            }
            else if (_tieBreak is null ? slot > bestSlot : _tieBreak.Next(ties += members) >= members)
            {
                continue;
            }

            bestScore = score;
            bestNode = node;
            bestSlot = slot;
            bestHasGpus = fresh;
            if (fresh)
            {
                _best.Clear();
                _best.AddRange(_nodeBest);
            }
        }

        if (bestNode is null)
        {
            return null;
        }

        if (!bestHasGpus)
        {
            // The score came from the cache: score the winner once more for its GPU choice.
            ScoreNode(bestNode, demand);
            _best.Clear();
            _best.AddRange(_nodeBest);
        }

        return new Allocation(demand.JobId, bestNode.Id, demand.Resources, [.. _best]);
    }

    // True when the class's bound cannot beat the best so far, so scoring it exactly would change
    // nothing: lower, or equal with a later earliest node (random tie-breaks draw among equals, so
    // only a lower bound loses there). The policy prepares before its first measure.
    private bool BoundLoses(JobDemand demand, PlacementIndex index, int live, int slot, double bestScore, int bestSlot, ref bool measured)
    {
        var bound = BoundOf(demand, index, live, ref measured);
        return bound < bestScore || (bound == bestScore && _tieBreak is null && slot > bestSlot);
    }

    private double BoundOf(JobDemand demand, PlacementIndex index, int live, ref bool measured)
    {
        if (!measured)
        {
            measured = true;
            _measures.SetVersion(_cacheable!.Prepare(demand));
        }

        return BoundOf(demand, index, live);
    }

    private double BoundOf(JobDemand demand, PlacementIndex index, int live)
    {
        ref readonly var c = ref index.Capacities[live];
        return _bounds!.Bound(demand, _measures.Of(_bounds, index, live), c.GpuFreeTotal, c.GpuCount * (long)ResourceLimits.MilliPerGpu);
    }

    // True when a class that passes the capacity test passes the filter: the job names no GPU model,
    // no label and no topology (live classes hold schedulable nodes only), so reading its nodes would
    // tell nothing more.
    private static bool CapacityDecides(JobDemand demand) =>
        demand.GpuModels.Count == 0 && demand.NodeSelector.Count == 0
        && (demand.Resources.IsSharedGpu || demand.RequiredTopology == TopologyLevel.System);

    /// <summary>
    /// The scan over classes above, in O(changes · log classes): the shape's tree replays the classes
    /// that changed since it was last read, rescoring only those (all of them when the policy's version
    /// moved), and holds the best at its root. The policy prepares exactly when the scan would: when
    /// some class passes the filter.
    /// </summary>
    private Allocation? FindByTree(JobDemand demand, PlacementIndex index, ClassScoreTree tree)
    {
        Synchronise(demand, index, tree);
        if (tree.FeasibleCount == 0)
        {
            tree.ClearQueue();
            return null;
        }

        var version = _cacheable!.Prepare(demand);
        _trees.SetVersion(version);
        if (tree.ScoreEpoch != _trees.Epoch)
        {
            tree.ScoreEpoch = _trees.Epoch;
            tree.MarkAllStale();
        }

        // Scores the class scan cached stay good here (and the other way round): a tree rebuilt after
        // a long gap rescores only the classes that really changed.
        var table = _scores.For(index, demand);
        if (table is not null)
        {
            _scores.SetVersion(version);
        }

        _measures.SetVersion(version);
        var capacities = index.Capacities;
        foreach (var id in tree.Queued)
        {
            if (!tree.IsStale(id))
            {
                continue;
            }

            // Stale leaves passed the filter, as the scan checks before it scores. With bounds, a leaf
            // not scored for this shape before holds its bound until it could win (below).
            var live = index.LiveOf(id);
            var stamp = table is null ? 0 : _scores.Stamp(capacities[live].Generation);
            if (table is not null && table.TryGet(id, stamp, out var score))
            {
                tree.SetScore(id, score);
            }
            else if (_bounds is not null)
            {
                tree.SetScore(id, BoundOf(demand, index, live), exact: false);
            }
            else
            {
                score = ScoreNode(index.Representative(live, out _), demand);
                table?.Set(id, stamp, score);
                tree.SetScore(id, score);
            }
        }

        tree.ClearQueue();
        int best;

        // The root holds the best exact score once no bound above it remains: every other leaf's score
        // is at most its bound, which the root beats.
        while ((best = tree.Best) >= 0 && !tree.IsExact(best))
        {
            var live = index.LiveOf(best);
            var stamp = table is null ? 0 : _scores.Stamp(capacities[live].Generation);
            var score = ScoreNode(index.Representative(live, out _), demand);
            table?.Set(best, stamp, score);
            tree.SetExactAtRoot(best, score);
        }

        if (best < 0)
        {
            return null;
        }

        // Scored again for its GPU choice, as the scan does when the winner's score came from its cache.
        var winner = index.Representative(index.LiveOf(best), out _);
        ScoreNode(winner, demand);
        return new Allocation(demand.JobId, winner.Id, demand.Resources, [.. _nodeBest]);
    }

    // Replays the index's changes since the tree's last read (or every class, when the tree is new,
    // the classes were rebuilt or it fell too far behind) into the tree's leaves.
    private void Synchronise(JobDemand demand, PlacementIndex index, ClassScoreTree tree)
    {
        var bound = index.ClassIdBound;
        var end = index.ChangeEnd;
        if (!ReferenceEquals(tree.Index, index) || tree.IndexEpoch != index.Epoch || bound > tree.Capacity
            || tree.Position < index.ChangeStart || end - tree.Position > bound)
        {
            // Sized for every node at once: classes never outnumber the nodes, so the tree never regrows.
            tree.Reset(index, Math.Max(bound, index.NodeArray.Length));
            for (var id = 0; id < bound; id++)
            {
                Examine(demand, index, tree, id);
            }
        }
        else
        {
            for (var position = tree.Position; position < end; position++)
            {
                Examine(demand, index, tree, index.ChangeAt(position));
            }
        }

        tree.Position = end;
    }

    private void Examine(JobDemand demand, PlacementIndex index, ClassScoreTree tree, int id)
    {
        var live = index.LiveOf(id);
        if (live < 0)
        {
            if (tree.GenerationOf(id) != 0)
            {
                tree.Remove(id);
            }

            return;
        }

        ref readonly var c = ref index.Capacities[live];
        var same = c.Generation == tree.GenerationOf(id);
        if (same && !tree.IsFeasible(id))
        {
            // The same state still fails the filter: where its earliest node sits does not matter.
            return;
        }

        var r = demand.Resources;
        if (!same && (r.CpuMillis > c.CpuFree || r.MemoryMib > c.MemoryFree || r.TotalGpuMilli > c.GpuFreeTotal
            || (r.IsSharedGpu ? c.MaxGpuFree < r.GpuMilli : c.IdleGpus < r.Gpus)))
        {
            tree.Set(id, c.Generation, int.MaxValue, feasible: false);
            return;
        }

        var node = index.Representative(live, out var slot);
        if (same)
        {
            // The same state, perhaps another earliest node: only the tie-break order may have moved.
            if (slot != tree.SlotOf(id))
            {
                tree.Set(id, c.Generation, slot, feasible: true);
            }

            return;
        }

        tree.Set(id, c.Generation, slot, CapacityDecides(demand) || Passes(node, demand));
    }

    private bool Dedupes(JobDemand demand) => _perJob?.ScoresNodeStateOnlyFor(demand) ?? _dedupe;

    private Allocation? FindIn(JobDemand demand, ReadOnlySpan<NodeState> nodes)
    {
        NodeState? bestNode = null;
        var bestScore = double.NegativeInfinity;
        var ties = 0;
        var r = demand.Resources;
        var dedupe = Dedupes(demand);
        _seenClasses.Clear();

        foreach (var node in nodes)
        {
            // Cheap rejections first; the full Filter (with its reason) only runs when nothing fits.
            if (r.CpuMillis > node.CpuFree || r.MemoryMib > node.MemoryFree || r.TotalGpuMilli > node.GpuFreeMilliTotal
                || !node.Schedulable)
            {
                continue;
            }

            // An identical node was already scored: the earlier one stands for its class, and
            // random tie-breaks (IRandomTieBreak) draw among distinct node states, not nodes.
            if (dedupe && !_seenClasses.Add(node.EquivalenceKey))
            {
                continue;
            }

            var score = Filter(node, demand) is null ? ScoreNode(node, demand) : double.NegativeInfinity;
            if (double.IsNegativeInfinity(score))
            {
                continue;
            }

            if (score > bestScore)
            {
                bestScore = score;
                ties = 1;
            }
            else if (score != bestScore || _tieBreak is null || _tieBreak.Next(++ties) != 0)
            {
                continue;
            }

            bestNode = node;
            _best.Clear();
            _best.AddRange(_nodeBest);
        }

        return bestNode is null ? null : new Allocation(demand.JobId, bestNode.Id, demand.Resources, [.. _best]);
    }

    /// <summary>
    /// Every node's verdict for <paramref name="demand"/>: the filter's reason, or its best score. Scores
    /// every node that fits (no equivalence-class shortcut), so it costs a full pass: for explaining, not placing.
    /// </summary>
    public IReadOnlyList<PlacementVerdict> Explain(JobDemand demand, IEnumerable<NodeState> nodes)
    {
        var verdicts = new List<PlacementVerdict>();
        foreach (var node in nodes)
        {
            if (Filter(node, demand) is { } why)
            {
                verdicts.Add(new PlacementVerdict(node.Id, why, double.NegativeInfinity));
                continue;
            }

            var score = ScoreNode(node, demand);
            verdicts.Add(double.IsNegativeInfinity(score)
                ? new PlacementVerdict(node.Id, PlacementChecks.PolicyRefuses, score)
                : new PlacementVerdict(node.Id, null, score));
        }

        return verdicts;
    }

    /// <summary>
    /// <see cref="Filter"/> is null, without its reason and with the GPUs the job's models allow read
    /// per model layout from a cache: the class scan and the trees ask it for thousands of classes.
    /// </summary>
    private bool Passes(NodeState node, JobDemand demand)
    {

        if (!node.Schedulable)
        {
            return false;
        }

        var r = demand.Resources;
        if (demand.NodeSelector.Count > 0 || node.Gpus.Count > 64)
        {
            return Filter(node, demand) is null;
        }

        if (r.CpuMillis > node.CpuFree || r.MemoryMib > node.MemoryFree)
        {
            return false;
        }

        if (!r.NeedsGpu)
        {
            return true;
        }

        var allowed = AllowedGpus(node, demand.GpuModels);
        if (allowed == 0 || (!r.IsSharedGpu && BitOperations.PopCount(allowed) < r.Gpus))
        {
            return false;
        }

        var fits = 0;
        var freeMilli = node.GpuFreeMilli;
        for (var i = 0; i < freeMilli.Length; i++)
        {
            if (((allowed >> i) & 1) != 0 && (r.IsSharedGpu ? freeMilli[i] >= r.GpuMilli : freeMilli[i] == ResourceLimits.MilliPerGpu))
            {
                fits++;
            }
        }

        return fits >= (r.IsSharedGpu ? 1 : r.Gpus)
            && (r.IsSharedGpu || demand.RequiredTopology == TopologyLevel.System
                || GpuSetSelector.BestLevel(node, freeMilli, demand) >= demand.RequiredTopology);
    }

    // Bit i set when GPU i is of a model in models; kept per model layout for the last model list asked.
    private ulong AllowedGpus(NodeState node, IReadOnlyList<string> models)
    {
        if (models.Count == 0)
        {
            return node.Gpus.Count == 64 ? ulong.MaxValue : (1UL << node.Gpus.Count) - 1;
        }

        if (!ReferenceEquals(models, _maskModels))
        {
            _maskModels = models;
            _modelMasks.Clear();
        }

        if (!_modelMasks.TryGetValue(node.GpuModelsKey, out var mask))
        {
            for (var i = 0; i < node.Gpus.Count; i++)
            {
                if (node.GpuModelAllowed(i, models))
                {
                    mask |= 1UL << i;
                }
            }

            _modelMasks.Add(node.GpuModelsKey, mask);
        }

        return mask;
    }

    /// <summary>Why <paramref name="node"/> cannot take <paramref name="demand"/>, or null when it can.</summary>
    public static string? Filter(NodeState node, JobDemand demand)
    {
        if (node.Health != NodeHealth.Ready)
        {
            return NotReady;
        }

        if (node.Cordoned || node.Draining)
        {
            return CordonedReason;
        }

        if (demand.NodeSelector.Count > 0)
        {
            foreach (var (key, value) in demand.NodeSelector)
            {
                if (!node.Labels.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
                {
                    return LabelsDoNotMatch;
                }
            }
        }

        var r = demand.Resources;
        if (r.CpuMillis > node.CpuFree)
        {
            return r.CpuMillis > node.CpuCapacity ? TooLittleCpuInTotal : "too little free CPU";
        }

        if (r.MemoryMib > node.MemoryFree)
        {
            return r.MemoryMib > node.MemoryCapacity ? TooLittleMemoryInTotal : "too little free memory";
        }

        if (!r.NeedsGpu)
        {
            return null;
        }

        var allowed = 0;
        var fits = 0;
        var freeMilli = node.GpuFreeMilli;
        for (var i = 0; i < freeMilli.Length; i++)
        {
            if (!node.GpuModelAllowed(i, demand.GpuModels))
            {
                continue;
            }

            allowed++;
            var free = freeMilli[i];
            if (r.IsSharedGpu ? free >= r.GpuMilli : free == ResourceLimits.MilliPerGpu)
            {
                fits++;
            }
        }

        if (allowed == 0)
        {
            return node.Gpus.Count == 0 ? NoGpus : NoAllowedGpuModel;
        }

        if (!r.IsSharedGpu && allowed < r.Gpus)
        {
            return TooFewGpusInTotal;
        }

        if (fits < (r.IsSharedGpu ? 1 : r.Gpus))
        {
            return "too few free GPUs";
        }

        return r.IsSharedGpu || demand.RequiredTopology == TopologyLevel.System
            || GpuSetSelector.BestLevel(node, freeMilli, demand) >= demand.RequiredTopology
            ? null
            : TopologyRefusal(demand, free: GpuSetSelector.BestLevelWhenIdle(node, demand) >= demand.RequiredTopology);
    }

    /// <summary>
    /// Why a node refuses a job's <see cref="JobDemand.RequiredTopology"/>: no group holds enough free GPUs
    /// now (<paramref name="free"/>), or enough GPUs at all.
    /// </summary>
    internal static string TopologyRefusal(JobDemand demand, bool free) =>
        $"{TopologyPrefix}{TopologyLevels.Name(demand.RequiredTopology)}: no {TopologyLevels.Describe(demand.RequiredTopology)} has {demand.Resources.Gpus}{(free ? " free" : "")} GPUs";

    /// <summary>
    /// True when <paramref name="node"/> could not take <paramref name="demand"/> even empty, healthy and
    /// uncordoned: the job waits for hardware, not for other jobs to finish.
    /// </summary>
    public static bool ExceedsCapacity(NodeState node, JobDemand demand)
    {
        var r = demand.Resources;
        if (r.CpuMillis > node.CpuCapacity || r.MemoryMib > node.MemoryCapacity)
        {
            return true;
        }

        if (!r.NeedsGpu)
        {
            return false;
        }

        var allowed = 0;
        for (var i = 0; i < node.Gpus.Count; i++)
        {
            if (node.GpuModelAllowed(i, demand.GpuModels))
            {
                allowed++;
            }
        }

        return allowed < (r.IsSharedGpu ? 1 : r.Gpus)
            || (!r.IsSharedGpu && demand.RequiredTopology != TopologyLevel.System
                && GpuSetSelector.BestLevelWhenIdle(node, demand) < demand.RequiredTopology);
    }

    // The node's best choice of GPUs (the first of equal scores) into _nodeBest; returns its score.
    private double ScoreNode(NodeState node, JobDemand demand)
    {
        var r = demand.Resources;
        var shares = _shares;
        var best = double.NegativeInfinity;
        var bestTie = double.NegativeInfinity;
        _nodeBest.Clear();
        if (r.IsSharedGpu)
        {
            // Every GPU with room is a distinct choice; GPUs with the same free amount score alike.
            var free = node.GpuFreeMilli;
            for (var i = 0; i < free.Length; i++)
            {
                if (free[i] < r.GpuMilli || !node.GpuModelAllowed(i, demand.GpuModels) || SeenEarlier(node, demand, i))
                {
                    continue;
                }

                shares.Clear();
                shares.Add(new GpuShare(i, r.GpuMilli));
                Keep(_policy.Score(node, demand, shares));
            }
        }
        else
        {
            // One choice: the best-connected free set (the first free GPUs where no topology is known).
            shares.Clear();
            if (GpuSetSelector.TryChoose(node, node.GpuFreeMilli, demand, shares))
            {
                Keep(_policy.Score(node, demand, shares));
            }
        }

        return best;

        void Keep(double score)
        {
            if (double.IsNegativeInfinity(score) || score < best)
            {
                return;
            }

            // Equal scores keep the first choice, unless the policy prefers another GPU (IGpuTieBreak).
            var tie = _gpuTieBreak?.GpuTieBreak(node, shares) ?? 0;
            if (score == best && (_gpuTieBreak is null || tie <= bestTie))
            {
                return;
            }

            best = score;
            bestTie = tie;
            _nodeBest.Clear();
            _nodeBest.AddRange(shares);
        }
    }

    // True when an earlier GPU of the same model has the same free amount: the same choice again.
    private static bool SeenEarlier(NodeState node, JobDemand demand, int index)
    {
        var free = node.GpuFreeMilli;
        var model = node.Gpus[index].Model;
        for (var j = 0; j < index; j++)
        {
            if (free[j] == free[index] && node.GpuModelAllowed(j, demand.GpuModels)
                && string.Equals(node.Gpus[j].Model, model, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static string DescribeRejections(JobDemand demand, IEnumerable<NodeState> nodes)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var total = 0;
        var tooSmall = 0;
        foreach (var node in nodes)
        {
            var why = Filter(node, demand) ?? "too few free GPUs";
            counts[why] = counts.GetValueOrDefault(why) + 1;
            total++;
            tooSmall += ExceedsCapacity(node, demand) ? 1 : 0;
        }

        if (total == 0)
        {
            return "no nodes registered";
        }

        var parts = string.Join("; ", counts
            .OrderByDescending(kv => kv.Value)
            .ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Value} {(kv.Value == 1 ? "node" : "nodes")}: {kv.Key}"));

        // Not a wait for running jobs to end: it stays pending until a larger node registers.
        return tooSmall == total
            ? $"fits no node's total capacity, so it waits for a larger node to join ({parts})"
            : $"no node fits ({parts})";
    }
}
