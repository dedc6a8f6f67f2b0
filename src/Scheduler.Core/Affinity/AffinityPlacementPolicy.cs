using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Affinity;

/// <summary>
/// Wraps any placement policy and adds up to <see cref="Tolerance"/> to the score of nodes that
/// already cache the job's model or dataset keys. A cached node therefore wins only when its base
/// score is within the tolerance of the best: reuse of warm caches without giving up packing.
/// A job with no keys is scored as the inner policy scores it, so the engine keeps scoring each
/// class of identical nodes once for it when the inner policy allows that.
/// </summary>
public sealed class AffinityPlacementPolicy : IPlacementPolicy, IRandomTieBreak, IPerJobNodeStateScoring, ICacheableScores, IScoreBounds
{
    private readonly IPlacementPolicy _inner;
    private readonly Func<string, IReadOnlyCollection<string>> _jobKeys;
    private readonly Func<string, IReadOnlySet<string>?> _nodeKeys;

    /// <summary>
    /// Creates the wrapper. <paramref name="jobKeys"/> gives a job's affinity keys by job id (empty
    /// for none); <paramref name="nodeKeys"/> the keys a node reported cached (null when unknown).
    /// <paramref name="tolerance"/> is in the inner policy's score units (best-fit: fraction of a node).
    /// </summary>
    public AffinityPlacementPolicy(
        IPlacementPolicy inner,
        Func<string, IReadOnlyCollection<string>> jobKeys,
        Func<string, IReadOnlySet<string>?> nodeKeys,
        double tolerance = 0.02)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tolerance);
        _inner = inner;
        _jobKeys = jobKeys;
        _nodeKeys = nodeKeys;
        Tolerance = tolerance;
    }

    /// <summary>The inner policy's name with an affinity suffix.</summary>
    public string Name => _inner.Name + "+affinity";

    /// <summary>The most a cached node's score is raised (all keys cached).</summary>
    public double Tolerance { get; }

    // Exact ties (no cache involved) are still broken the way the wrapped policy wants.
    Random? IRandomTieBreak.TieBreak => (_inner as IRandomTieBreak)?.TieBreak;

    // Without keys no node gets a bonus, and the score is the inner policy's.
    bool IPerJobNodeStateScoring.ScoresNodeStateOnlyFor(JobDemand demand) =>
        _inner is IPerJobNodeStateScoring inner ? inner.ScoresNodeStateOnlyFor(demand) && _jobKeys(demand.JobId).Count == 0
        : _inner.ScoresNodeStateOnly && _jobKeys(demand.JobId).Count == 0;

    // Only consulted for jobs without keys (ScoresNodeStateOnlyFor), whose scores are the inner policy's.
    bool ICacheableScores.ScoresCacheable => _inner is ICacheableScores { ScoresCacheable: true };

    int ICacheableScores.Prepare(JobDemand demand) => ((ICacheableScores)_inner).Prepare(demand);

    // Bounds too are only read for jobs without keys, whose scores are the inner policy's.
    bool IScoreBounds.HasScoreBounds => _inner is IScoreBounds { HasScoreBounds: true };

    NodeMeasure IScoreBounds.Measure(NodeState node) => ((IScoreBounds)_inner).Measure(node);

    double IScoreBounds.Bound(JobDemand demand, NodeMeasure measure, long gpuFreeMilli, long gpuCapacityMilli) =>
        ((IScoreBounds)_inner).Bound(demand, measure, gpuFreeMilli, gpuCapacityMilli);

    /// <inheritdoc />
    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        var score = _inner.Score(node, demand, gpus);
        var keys = _jobKeys(demand.JobId);
        if (keys.Count == 0 || _nodeKeys(node.Id) is not { Count: > 0 } cached)
        {
            return score;
        }

        var hits = 0;
        foreach (var key in keys)
        {
            if (cached.Contains(key))
            {
                hits++;
            }
        }

        return score + (Tolerance * hits / keys.Count);
    }
}
