using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Registrations of one inbox batch, decided but not yet acted on: the loop stores the node records
/// that changed with the batch's group write, and only once it is durable accepts each worker (its
/// session, its Registered answer, the reconciliation of its agents). A registration whose record did
/// not change waits with them, so the order of the batch is kept, but adds nothing to the write.
/// A node appears here at most once: a second registration of it waits until the first is accepted.
/// </summary>
internal sealed class StagedRegistrations
{
    private readonly List<(WorkerConnected Connected, NodeRecord Record, bool Write)> _staged = [];
    private readonly HashSet<string> _nodes = new(StringComparer.Ordinal);

    public int Count => _staged.Count;

    /// <summary>Whether a registration of <paramref name="nodeId"/> waits here.</summary>
    public bool Holds(string nodeId) => _nodes.Contains(nodeId);

    /// <summary>The records the group write must store: only those that differ from what is stored.</summary>
    public IReadOnlyList<NodeRecord> Writes => [.. _staged.Where(s => s.Write).Select(s => s.Record)];

    /// <summary>Stages a registration; <paramref name="write"/> when its record is not the one stored.</summary>
    public void Add(WorkerConnected connected, NodeRecord record, bool write)
    {
        if (!_nodes.Add(record.Id))
        {
            throw new InvalidOperationException($"node {record.Id} already has a registration waiting");
        }

        _staged.Add((connected, record, write));
    }

    /// <summary>Hands over the staged registrations, in order, and forgets them.</summary>
    public List<(WorkerConnected Connected, NodeRecord Record, bool Write)> Take()
    {
        var taken = _staged.ToList();
        _staged.Clear();
        _nodes.Clear();
        return taken;
    }
}
