using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// A <see cref="ClassScoreTree"/> per job shape over one index: what a cacheable policy's best class
/// for a shape depends on (resources, allowed GPU models, required topology). A shape is read through
/// its tree only when it comes back before the classes changed much (a tree replays every change, so
/// for a rare shape the scan is cheaper, and costs no memory). Jobs with a node selector are left to the scan.
/// </summary>
internal sealed class ClassScoreTrees
{
    // A bound on memory (shapes × classes): past it the trees start again.
    private const int MaxShapes = 256;
    private readonly Dictionary<Shape, Entry> _shapes = [];
    private PlacementIndex? _index;
    private int _version;
    private long _epoch = 1;
    private IReadOnlyList<string>? _lastModels;
    private string _lastModelsKey = string.Empty;

    /// <summary>The score epoch: moves whenever the policy's version does.</summary>
    public long Epoch => _epoch;

    public ClassScoreTree? For(PlacementIndex index, JobDemand demand)
    {
        if (demand.NodeSelector.Count != 0)
        {
            return null;
        }

        if (!ReferenceEquals(index, _index))
        {
            _index = index;
            _shapes.Clear();
        }

        var shape = new Shape(demand.Resources, ModelsKey(demand.GpuModels), demand.RequiredTopology);
        if (!_shapes.TryGetValue(shape, out var entry))
        {
            if (_shapes.Count >= MaxShapes)
            {
                _shapes.Clear();
            }

            entry = new Entry();
            _shapes.Add(shape, entry);
        }

        // Replaying a change costs about twice what the scan spends on a class (a bound, not a score,
        // where the policy bounds its scores): the tree pays when the shape comes back within half the
        // classes' worth of changes (measured: fgd-cpu at 10,000 nodes made 10,576-11,009 calls per CPU
        // second with half, 6,802-9,829 with an eighth, as before bounds; each tree holds about 32 bytes a node).
        var end = index.ChangeEnd;
        var soon = entry.LastRead >= 0 && end - entry.LastRead <= Math.Max(16, index.LiveCount / 2);
        entry.LastRead = end;
        if (!soon)
        {
            return null;
        }

        return entry.Tree ??= new ClassScoreTree();
    }

    /// <summary>Starts a new epoch when the policy's version moved: every tree's scores are then stale.</summary>
    public void SetVersion(int version)
    {
        if (version != _version)
        {
            _version = version;
            _epoch++;
        }
    }

    // Models in the job's order: the same set listed otherwise gets its own tree, which is only a cost.
    private string ModelsKey(IReadOnlyList<string> models)
    {
        if (models.Count == 0)
        {
            return string.Empty;
        }

        if (!ReferenceEquals(models, _lastModels))
        {
            _lastModels = models;
            _lastModelsKey = string.Join('\n', models);
        }

        return _lastModelsKey;
    }

    private sealed class Entry
    {
        public long LastRead { get; set; } = -1;

        public ClassScoreTree? Tree { get; set; }
    }

    private readonly record struct Shape(ResourceRequest Resources, string Models, TopologyLevel Topology);
}
