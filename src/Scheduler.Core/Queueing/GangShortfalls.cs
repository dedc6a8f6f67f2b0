using Scheduler.Core.Cluster;

namespace Scheduler.Core.Queueing;

/// <summary>
/// What passes learned of waiting gangs that did not fit: for each replica shape, how many replicas the
/// nodes could take at most and where. A gang of that shape asking more is answered from here instead of
/// probing the nodes again, which is what a pass spends most on when many gangs wait. Sound while free
/// capacity only shrinks: within a pass outside a gang attempt (whose rollback gives back what it took),
/// and from one pass to the next until some node's free capacity grows (a release, a node back, added or
/// uncordoned), which forgets everything. Only shortfalls found with no backfill reservation in force
/// are kept: a reservation found later only takes usable capacity away.
/// </summary>
internal sealed class GangShortfalls
{
    private readonly Dictionary<ShapeKey, Shortfall> _known = [];
    private readonly Dictionary<string, Free> _free = new(StringComparer.Ordinal);

    /// <summary>Gangs probed against the nodes in the last pass (the others were answered from here).</summary>
    public int Probes { get; private set; }

    /// <summary>Before a pass over <paramref name="nodes"/>: forgets every shortfall when free capacity grew since the last.</summary>
    public void BeginPass(IReadOnlyList<NodeState> nodes, bool gangsWaiting)
    {
        Probes = 0;
        if (!gangsWaiting || Grew(nodes))
        {
            _known.Clear();
        }

        if (!gangsWaiting)
        {
            // Nothing to keep: without a record of this pass's end the next one starts afresh.
            _free.Clear();
        }
    }

    /// <summary>After the pass: the free capacity the next pass compares against.</summary>
    public void EndPass(IReadOnlyList<NodeState> nodes, bool gangsWaiting)
    {
        if (!gangsWaiting)
        {
            return;
        }

        _free.Clear();
        foreach (var node in nodes)
        {
            _free[node.Id] = new Free(node, node.Schedulable, node.CpuFree, node.MemoryFree, node.GpuFreeMilli.ToArray());
        }
    }

    /// <summary>The shortfall of a gang of <paramref name="size"/> replicas of <paramref name="shape"/>, if already known.</summary>
    public Shortfall? Known(ShapeKey shape, int size) =>
        _known.TryGetValue(shape, out var known) && size > known.Feasible ? known : null;

    public void Probed() => Probes++;

    public void Remember(ShapeKey shape, Shortfall shortfall)
    {
        if (!_known.TryGetValue(shape, out var known) || shortfall.Feasible < known.Feasible)
        {
            _known[shape] = shortfall;
        }
    }

    private bool Grew(IReadOnlyList<NodeState> nodes)
    {
        if (_free.Count != nodes.Count)
        {
            return true;
        }

        foreach (var node in nodes)
        {
            if (!_free.TryGetValue(node.Id, out var was) || !ReferenceEquals(was.Node, node)
                || (node.Schedulable && !was.Schedulable) || node.CpuFree > was.Cpu || node.MemoryFree > was.Memory)
            {
                return true;
            }

            var gpus = node.GpuFreeMilli;
            if (gpus.Length != was.Gpus.Length)
            {
                return true;
            }

            for (var g = 0; g < gpus.Length; g++)
            {
                if (gpus[g] > was.Gpus[g])
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>A gang shape's shortfall: at most <see cref="Feasible"/> replicas fit, on these nodes; <see cref="Detail"/> says why none did.</summary>
    internal sealed record Shortfall(int Feasible, IReadOnlyList<(string NodeId, int Replicas)> PerNode, string? Detail);

    private sealed record Free(NodeState Node, bool Schedulable, long Cpu, long Memory, int[] Gpus);
}
