namespace Scheduler.Core.Placement;

/// <summary>
/// A bounding policy's measure of each node class of one index (<see cref="IScoreBounds.Measure"/>),
/// kept until the class changes or the policy's version moves: one measure per class state serves
/// every job shape.
/// </summary>
internal sealed class ClassMeasureCache
{
    private PlacementIndex? _index;
    private int _version;
    private long _epoch = 1;
    private long[] _stamps = [];
    private NodeMeasure[] _measures = [];

    /// <summary>Starts a new epoch when the policy's version moved: every measure is then stale.</summary>
    public void SetVersion(int version)
    {
        if (version != _version)
        {
            _version = version;
            _epoch++;
        }
    }

    /// <summary>The measure of the class at <paramref name="live"/> in <paramref name="index"/>, computed once per class state.</summary>
    public NodeMeasure Of(IScoreBounds bounds, PlacementIndex index, int live)
    {
        if (!ReferenceEquals(index, _index))
        {
            _index = index;
            Array.Clear(_stamps);
        }

        ref readonly var c = ref index.Capacities[live];
        if (_stamps.Length < index.ClassIdBound)
        {
            var size = Math.Max(index.ClassIdBound, _stamps.Length * 2);
            Array.Resize(ref _stamps, size);
            Array.Resize(ref _measures, size);
        }

        var stamp = (_epoch << 32) | (uint)c.Generation;
        if (_stamps[c.Id] != stamp)
        {
            _measures[c.Id] = bounds.Measure(index.Representative(live, out _));
            _stamps[c.Id] = stamp;
        }

        return _measures[c.Id];
    }
}
