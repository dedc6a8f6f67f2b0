namespace Scheduler.Core.Placement;

/// <summary>
/// One job shape's scores of an index's node classes, kept in a tournament tree so that the best
/// class is read at the root and a changed class costs one path (log of the classes) instead of a
/// scan of them all. The order is the full scan's: the higher score wins, and of equal scores the
/// class whose earliest node comes first. Each leaf remembers the class generation its score and
/// feasibility were computed for; the engine replays the index's change log into it (see
/// <see cref="PlacementEngine"/>).
/// </summary>
internal sealed class ClassScoreTree
{
    private double[] _score = [];
    private int[] _slot = [];
    private int[] _generation = [];
    private bool[] _feasible = [];
    private bool[] _stale = [];
    private bool[] _exact = [];
    private bool[] _queued = [];
    private int[] _queue = [];
    private int _queueCount;

    // _tree[1] is the root; the leaf of class id sits at _leaves + id and holds id itself.
    private int[] _tree = [];
    private int _leaves;

    /// <summary>The index this tree mirrors, and its <see cref="PlacementIndex.Epoch"/> when last synchronised.</summary>
    public PlacementIndex? Index { get; private set; }

    public int IndexEpoch { get; private set; } = -1;

    /// <summary>How far the index's change log was replayed (absolute position).</summary>
    public long Position { get; set; }

    /// <summary>The score epoch (policy version) the leaves' scores belong to; -1 before any scoring.</summary>
    public long ScoreEpoch { get; set; } = -1;

    /// <summary>Classes that pass the filter for this shape (the policy prepares only when one does).</summary>
    public int FeasibleCount { get; private set; }

    /// <summary>How many class ids the tree holds.</summary>
    public int Capacity => _leaves;

    /// <summary>Classes whose leaf changed since the last <see cref="ClearQueue"/>.</summary>
    public ReadOnlySpan<int> Queued => _queue.AsSpan(0, _queueCount);

    /// <summary>The best class id, or -1 when no class scores above negative infinity.</summary>
    public int Best
    {
        get
        {
            var best = _tree[1];
            return best >= 0 && !double.IsNegativeInfinity(_score[best]) ? best : -1;
        }
    }

    /// <summary>Empties the tree for <paramref name="index"/>, sized for <paramref name="classes"/> class ids.</summary>
    public void Reset(PlacementIndex index, int classes)
    {
        Index = index;
        IndexEpoch = index.Epoch;
        ScoreEpoch = -1;
        FeasibleCount = 0;
        var leaves = 1;
        while (leaves < Math.Max(classes, 1))
        {
            leaves *= 2;
        }

        if (leaves != _leaves)
        {
            _leaves = leaves;
            _score = new double[leaves];
            _slot = new int[leaves];
            _generation = new int[leaves];
            _feasible = new bool[leaves];
            _stale = new bool[leaves];
            _exact = new bool[leaves];
            _queued = new bool[leaves];
            _queue = new int[leaves];
            _tree = new int[2 * leaves];
        }
        else
        {
            Array.Clear(_generation);
            Array.Clear(_feasible);
            Array.Clear(_stale);
            Array.Clear(_exact);
            Array.Clear(_queued);
        }

        _queueCount = 0;
        Array.Fill(_score, double.NegativeInfinity);
        Array.Fill(_slot, int.MaxValue);
        for (var id = 0; id < leaves; id++)
        {
            _tree[leaves + id] = id;
        }

        Array.Fill(_tree, -1, 1, leaves - 1);
    }

    /// <summary>The generation the leaf of <paramref name="id"/> was computed for (0: none, or the class is gone).</summary>
    public int GenerationOf(int id) => _generation[id];

    public int SlotOf(int id) => _slot[id];

    public bool IsFeasible(int id) => _feasible[id];

    public bool IsStale(int id) => _stale[id];

    /// <summary>False while the leaf holds an upper bound of the class's score rather than the score (<see cref="IScoreBounds"/>).</summary>
    public bool IsExact(int id) => _exact[id];

    /// <summary>
    /// Records what the class <paramref name="id"/> now is: its generation, its earliest node's slot and
    /// whether it passes the filter. A new generation makes its score stale (negative infinity until rescored).
    /// </summary>
    public void Set(int id, int generation, int slot, bool feasible)
    {
        // A leaf that scored nothing and still scores nothing cannot move the root (slots only order
        // classes of equal score): no path to update.
        var mattered = !double.IsNegativeInfinity(_score[id]);
        if (_generation[id] != generation)
        {
            _generation[id] = generation;
            _score[id] = double.NegativeInfinity;
            _stale[id] = feasible;
            _exact[id] = false;
            FeasibleCount += (feasible ? 1 : 0) - (_feasible[id] ? 1 : 0);
            _feasible[id] = feasible;
        }

        _slot[id] = slot;
        if (mattered || _stale[id])
        {
            Enqueue(id);
        }
    }

    /// <summary>Records that no node is in class <paramref name="id"/> any more.</summary>
    public void Remove(int id)
    {
        if (_feasible[id])
        {
            FeasibleCount--;
        }

        var mattered = !double.IsNegativeInfinity(_score[id]);
        _generation[id] = 0;
        _feasible[id] = false;
        _stale[id] = false;
        _exact[id] = false;
        _score[id] = double.NegativeInfinity;
        _slot[id] = int.MaxValue;
        if (mattered)
        {
            Enqueue(id);
        }
    }

    /// <summary>
    /// Sets a feasible class's score for the current <see cref="ScoreEpoch"/>, or (<paramref name="exact"/>
    /// false) an upper bound of it, to be replaced by the score once it could win.
    /// </summary>
    public void SetScore(int id, double score, bool exact = true)
    {
        _score[id] = score;
        _stale[id] = false;
        _exact[id] = exact;
    }

    /// <summary>Replaces the bound at the root's leaf with its exact score and brings its path up to date.</summary>
    public void SetExactAtRoot(int id, double score)
    {
        SetScore(id, score);
        for (var node = (_leaves + id) / 2; node >= 1; node /= 2)
        {
            _tree[node] = Winner(_tree[2 * node], _tree[(2 * node) + 1]);
        }
    }

    /// <summary>Marks every feasible class stale (the policy's scores moved) and queues it.</summary>
    public void MarkAllStale()
    {
        for (var id = 0; id < _leaves; id++)
        {
            if (_feasible[id])
            {
                _stale[id] = true;
                _exact[id] = false;
                _score[id] = double.NegativeInfinity;
                Enqueue(id);
            }
        }
    }

    /// <summary>Brings the paths of the queued leaves up to date and empties the queue.</summary>
    public void ClearQueue()
    {
        if (_queueCount * 4 > _leaves)
        {
            // Many leaves changed: one bottom-up pass is cheaper than a path each.
            for (var i = 0; i < _queueCount; i++)
            {
                _queued[_queue[i]] = false;
            }

            _queueCount = 0;
            for (var node = _leaves - 1; node >= 1; node--)
            {
                _tree[node] = Winner(_tree[2 * node], _tree[(2 * node) + 1]);
            }

            return;
        }

        for (var i = 0; i < _queueCount; i++)
        {
            var id = _queue[i];
            _queued[id] = false;
            for (var node = (_leaves + id) / 2; node >= 1; node /= 2)
            {
                _tree[node] = Winner(_tree[2 * node], _tree[(2 * node) + 1]);
            }
        }

        _queueCount = 0;
    }

    private void Enqueue(int id)
    {
        if (!_queued[id])
        {
            _queued[id] = true;
            _queue[_queueCount++] = id;
        }
    }

    // The full scan's order: a higher score, then the earlier node; unscored classes never win.
    private int Winner(int a, int b)
    {
        if (a < 0)
        {
            return b;
        }

        if (b < 0)
        {
            return a;
        }

        var sa = _score[a];
        var sb = _score[b];
        if (sa > sb)
        {
            return a;
        }

        if (sb > sa)
        {
            return b;
        }

        return _slot[a] <= _slot[b] ? a : b;
    }
}
