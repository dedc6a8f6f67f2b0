using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// A <see cref="ClassScoreTree"/> per job shape over one index: what a cacheable policy's best class
/// for a shape depends on (resources, allowed GPU models, required topology). Jobs with a node
/// selector are left to the scan.
/// </summary>
internal sealed class ClassScoreTrees
{
    // A bound on memory (shapes × classes): past it the trees start again.
    private const int MaxShapes = 256;
    private readonly Dictionary<Shape, ClassScoreTree> _shapes = [];
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
        if (!_shapes.TryGetValue(shape, out var tree))
        {
            if (_shapes.Count >= MaxShapes)
            {
                _shapes.Clear();
            }

            tree = new ClassScoreTree();
            _shapes.Add(shape, tree);
        }

        return tree;
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

    private readonly record struct Shape(ResourceRequest Resources, string Models, TopologyLevel Topology);
}
