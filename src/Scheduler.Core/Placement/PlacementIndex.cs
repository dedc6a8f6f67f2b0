using System.Runtime.InteropServices;
using Scheduler.Core.Cluster;

namespace Scheduler.Core.Placement;

/// <summary>
/// A fixed list of nodes kept grouped into equivalence classes (<see cref="NodeState.EquivalenceKey"/>)
/// as they change, so that placement scores each distinct node state once without walking every node
/// (Borg's equivalence classes). Nodes report their own changes (allocations, health, cordons) to the
/// newest index built over them; an older index over the same nodes notices and rebuilds itself when
/// next used. Owned by one scheduling loop, like the nodes: not thread-safe.
/// </summary>
public sealed class PlacementIndex
{
    private readonly NodeState[] _nodes;
    private readonly int[] _classOf;
    private readonly Dictionary<ulong, int> _classByKey = [];
    private readonly List<NodeClass> _classes = [];
    private readonly Stack<int> _freeClasses = new();
    private readonly bool[] _dirty;
    private readonly int[] _dirtySlots;
    private int _dirtyCount;
    private bool _stale;
    private int _generations;

    // Ids of classes that changed (born, died, gained or lost a member), in order: per-shape score
    // trees replay what they have not seen. Entry i has the absolute position _changeStart + i.
    private readonly List<int> _changes = [];
    private long _changeStart;

    // Live position by class id (-1: no node in that class): what a tree replaying changes reads first.
    private int[] _liveOf = new int[16];

    // Live classes, densely packed, with what the cheap capacity test reads kept side by side.
    private int[] _live = new int[16];
    private ClassCapacity[] _capacity = new ClassCapacity[16];
    private int _liveCount;

    /// <summary>Indexes <paramref name="nodes"/> in the given order (ties between equal scores go to the earlier node).</summary>
    public PlacementIndex(IEnumerable<NodeState> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        _nodes = [.. nodes];
        var seen = new HashSet<NodeState>(ReferenceEqualityComparer.Instance);
        foreach (var node in _nodes)
        {
            if (!seen.Add(node))
            {
                throw new ArgumentException($"Node {node.Id} is listed twice.", nameof(nodes));
            }
        }

        _classOf = new int[_nodes.Length];
        _dirty = new bool[_nodes.Length];
        _dirtySlots = new int[_nodes.Length];
        Rebuild();
    }

    /// <summary>The indexed nodes, in placement order.</summary>
    public IReadOnlyList<NodeState> Nodes => _nodes;

    /// <summary>Distinct states among the schedulable nodes.</summary>
    public int ClassCount
    {
        get
        {
            Refresh();
            return _liveCount;
        }
    }

    internal NodeState[] NodeArray => _nodes;

    internal int LiveCount => _liveCount;

    /// <summary>One more than the largest class id in use: the size a per-class table needs.</summary>
    internal int ClassIdBound => _classes.Count;

    internal ReadOnlySpan<ClassCapacity> Capacities => _capacity.AsSpan(0, _liveCount);

    /// <summary>Bumped whenever the classes are rebuilt from scratch: class ids and change positions start again.</summary>
    internal int Epoch { get; private set; }

    /// <summary>The absolute position of the oldest change still kept.</summary>
    internal long ChangeStart => _changeStart;

    /// <summary>The absolute position after the newest change.</summary>
    internal long ChangeEnd => _changeStart + _changes.Count;

    /// <summary>The class id changed at absolute position <paramref name="position"/> (between <see cref="ChangeStart"/> and <see cref="ChangeEnd"/>).</summary>
    internal int ChangeAt(long position) => _changes[(int)(position - _changeStart)];

    /// <summary>The live position of class <paramref name="id"/>, or -1 when no node is in that class now.</summary>
    internal int LiveOf(int id) => (uint)id < (uint)_classes.Count ? _liveOf[id] : -1;

    /// <summary>True when this index holds exactly the nodes of <paramref name="nodes"/> and is current.</summary>
    public bool Covers(IReadOnlyDictionary<string, NodeState> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (_stale || nodes.Count != _nodes.Length)
        {
            return false;
        }

        // Distinct nodes all attached to this index, as many as it holds: the same set.
        foreach (var node in nodes.Values)
        {
            if (!ReferenceEquals(node.Index, this))
            {
                return false;
            }
        }

        return true;
    }

    internal void OnChanged(NodeState node)
    {
        var slot = node.IndexSlot;
        if (!_dirty[slot])
        {
            _dirty[slot] = true;
            _dirtySlots[_dirtyCount++] = slot;
        }
    }

    /// <summary>Brings the classes up to date with the nodes' changes since the last call.</summary>
    internal void Refresh()
    {
        if (_stale)
        {
            Rebuild();
            return;
        }

        for (var d = 0; d < _dirtyCount; d++)
        {
            var slot = _dirtySlots[d];
            _dirty[slot] = false;
            Leave(slot);
            Join(slot);
        }

        _dirtyCount = 0;

        // Keep the newer half once the log outgrows the classes several times over: a reader that
        // far behind rescans every class anyway.
        var limit = Math.Max(4096, 8 * _classes.Count);
        if (_changes.Count > limit)
        {
            var drop = _changes.Count / 2;
            _changes.RemoveRange(0, drop);
            _changeStart += drop;
        }
    }

    /// <summary>How many nodes the class at live position <paramref name="live"/> holds.</summary>
    internal int ClassSize(int live) => _classes[_live[live]].Count;

    /// <summary>The earliest node of the class at live position <paramref name="live"/>.</summary>
    /// <remarks>Its slot changes as nodes join and leave the class; each such change is logged.</remarks>
    internal NodeState Representative(int live, out int slot)
    {
        var id = _live[live];
        slot = _classes[id].First(_classOf, id);
        return _nodes[slot];
    }

    private void Rebuild()
    {
        _stale = false;
        _classByKey.Clear();
        _classes.Clear();
        _freeClasses.Clear();
        _liveCount = 0;
        _dirtyCount = 0;
        _changeStart += _changes.Count;
        _changes.Clear();
        Epoch++;
        for (var slot = 0; slot < _nodes.Length; slot++)
        {
            var node = _nodes[slot];
            if (node.Index is { } other && !ReferenceEquals(other, this))
            {
                other._stale = true;
            }

            node.Index = this;
            node.IndexSlot = slot;
            _dirty[slot] = false;
            _classOf[slot] = -1;
            Join(slot);
        }
    }

    private void Leave(int slot)
    {
        var id = _classOf[slot];
        if (id < 0)
        {
            return;
        }

        _classOf[slot] = -1;
        _changes.Add(id);
        var cls = _classes[id];
        if (--cls.Count > 0)
        {
            return;
        }

        _classByKey.Remove(cls.Key);
        cls.Clear();
        var live = cls.Live;
        var last = --_liveCount;
        _liveOf[id] = -1;
        if (live != last)
        {
            _live[live] = _live[last];
            _capacity[live] = _capacity[last];
            _classes[_live[live]].Live = live;
            _liveOf[_live[live]] = live;
        }

        _freeClasses.Push(id);
    }

    private void Join(int slot)
    {
        var node = _nodes[slot];
        if (!node.Schedulable)
        {
            return;
        }

        var key = node.EquivalenceKey;
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_classByKey, key, out var exists);
        if (!exists)
        {
            id = NewClass(key, node);
        }

        var cls = _classes[id];
        cls.Count++;
        _classOf[slot] = id;
        _changes.Add(id);
        cls.Add(slot, _classOf, id);
    }

    private int NewClass(ulong key, NodeState node)
    {
        int id;
        if (_freeClasses.Count > 0)
        {
            id = _freeClasses.Pop();
        }
        else
        {
            id = _classes.Count;
            _classes.Add(new NodeClass());
            if (id == _liveOf.Length)
            {
                Array.Resize(ref _liveOf, _liveOf.Length * 2);
            }
        }

        if (_liveCount == _live.Length)
        {
            Array.Resize(ref _live, _live.Length * 2);
            Array.Resize(ref _capacity, _capacity.Length * 2);
        }

        var cls = _classes[id];
        cls.Key = key;
        cls.Live = _liveCount;
        _liveOf[id] = _liveCount;
        _live[_liveCount] = id;
        _capacity[_liveCount] = ClassCapacity.Of(node, id, ++_generations);
        _liveCount++;
        return id;
    }

    /// <summary>
    /// What the engine's cheap rejection reads of a class, without touching its nodes, and the class's
    /// id with a generation that no other class of this index ever had (score caches key on it).
    /// </summary>
    internal readonly record struct ClassCapacity(long CpuFree, long MemoryFree, long GpuFreeTotal, int MaxGpuFree, int IdleGpus, int Id, int Generation, int GpuCount)
    {
        public static ClassCapacity Of(NodeState node, int id, int generation)
        {
            var max = 0;
            var idle = 0;
            foreach (var free in node.GpuFreeMilli)
            {
                max = Math.Max(max, free);
                idle += free == Resources.ResourceLimits.MilliPerGpu ? 1 : 0;
            }

            return new ClassCapacity(node.CpuFree, node.MemoryFree, node.GpuFreeMilliTotal, max, idle, id, generation, node.Gpus.Count);
        }
    }

    // Members' slots in a min-heap with lazy deletion: a slot that left stays until it surfaces.
    private sealed class NodeClass
    {
        private int[] _heap = new int[4];
        private int _size;

        public ulong Key { get; set; }

        public int Count { get; set; }

        public int Live { get; set; }

        public void Add(int slot, int[] classOf, int id)
        {
            if (_size > (2 * Count) + 8)
            {
                Compact(classOf, id);
            }

            if (_size == _heap.Length)
            {
                Array.Resize(ref _heap, _size * 2);
            }

            var i = _size++;
            while (i > 0)
            {
                var parent = (i - 1) / 2;
                if (_heap[parent] <= slot)
                {
                    break;
                }

                _heap[i] = _heap[parent];
                i = parent;
            }

            _heap[i] = slot;
        }

        public int First(int[] classOf, int id)
        {
            while (classOf[_heap[0]] != id)
            {
                Pop();
            }

            return _heap[0];
        }

        public void Clear() => _size = 0;

        // Keeps the members' entries once each; a sorted array is a valid min-heap.
        private void Compact(int[] classOf, int id)
        {
            var kept = 0;
            for (var i = 0; i < _size; i++)
            {
                if (classOf[_heap[i]] == id)
                {
                    _heap[kept++] = _heap[i];
                }
            }

            var span = _heap.AsSpan(0, kept);
            span.Sort();
            var unique = 0;
            for (var i = 0; i < kept; i++)
            {
                if (unique == 0 || span[i] != span[unique - 1])
                {
                    span[unique++] = span[i];
                }
            }

            _size = unique;
        }

        private void Pop()
        {
            var last = _heap[--_size];
            var i = 0;
            while (true)
            {
                var child = (2 * i) + 1;
                if (child >= _size)
                {
                    break;
                }

                if (child + 1 < _size && _heap[child + 1] < _heap[child])
                {
                    child++;
                }

                if (_heap[child] >= last)
                {
                    break;
                }

                _heap[i] = _heap[child];
                i = child;
            }

            _heap[i] = last;
        }
    }
}
