using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// A <see cref="ClassScoreTree"/> per job shape over one index: what a cacheable policy's best class
/// for a shape depends on (resources, allowed GPU models, required topology). A shape gets its tree
/// once it comes back before the classes changed much (a tree replays every change, so a rare shape
/// would rebuild it on every read: the scan costs the same without the memory). Jobs with a node
/// selector are left to the scan.
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

        var end = index.ChangeEnd;
        var soon = entry.LastRead >= 0 && end - entry.LastRead <= Math.Max(64, index.ClassIdBound / 2);
        entry.LastRead = end;
        if (entry.Tree is null && soon)
        {
            entry.Tree = new ClassScoreTree();
        }

        return entry.Tree;
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
