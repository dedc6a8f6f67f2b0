using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Scores of an index's node classes per job shape (Borg's score caching): a class keeps its state
/// for life, so its score for a shape holds until the policy's version changes. Only shapes without
/// model, label or topology constraints are cached, keyed by their resources.
/// </summary>
internal sealed class ClassScoreCache
{
    // A bound on memory (shapes × classes): past it the tables start again.
    private const int MaxShapes = 256;
    private readonly Dictionary<ResourceRequest, Table> _shapes = [];
    private PlacementIndex? _index;
    private int _version;
    private long _epoch = 1;

    public Table? For(PlacementIndex index, JobDemand demand)
    {
        if (demand.GpuModels.Count != 0 || demand.NodeSelector.Count != 0 || demand.RequiredTopology != TopologyLevel.System)
        {
            return null;
        }

        if (!ReferenceEquals(index, _index))
        {
            _index = index;
            _shapes.Clear();
        }

        if (!_shapes.TryGetValue(demand.Resources, out var table))
        {
            if (_shapes.Count >= MaxShapes)
            {
                _shapes.Clear();
            }

            table = new Table();
            _shapes.Add(demand.Resources, table);
        }

        table.EnsureSize(index.ClassIdBound);
        return table;
    }

    /// <summary>Starts a new epoch when the policy's version moved: every cached score is then stale.</summary>
    public void SetVersion(int version)
    {
        if (version != _version)
        {
            _version = version;
            _epoch++;
        }
    }

    public long Stamp(int generation) => (_epoch << 32) | (uint)generation;

    internal sealed class Table
    {
        private double[] _scores = [];
        private long[] _stamps = [];

        public void EnsureSize(int classes)
        {
            if (_scores.Length < classes)
            {
                var size = Math.Max(classes, _scores.Length * 2);
                Array.Resize(ref _scores, size);
                Array.Resize(ref _stamps, size);
            }
        }

        public bool TryGet(int id, long stamp, out double score)
        {
            score = _scores[id];
            return _stamps[id] == stamp;
        }

        public void Set(int id, long stamp, double score)
        {
            _scores[id] = score;
            _stamps[id] = stamp;
        }
    }
}
