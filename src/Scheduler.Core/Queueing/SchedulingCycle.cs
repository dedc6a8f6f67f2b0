using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Queueing;

/// <summary>
/// One pass over the queue: jobs in policy order, each placed on the best node or left waiting
/// with a reason. Allocations are applied to the nodes as they are made, so later jobs in the
/// same pass see the capacity earlier ones took. A job that fits nowhere does not block smaller
/// jobs behind it.
/// </summary>
public sealed class SchedulingCycle
{
    private readonly IQueuePolicy _queuePolicy;
    private readonly PlacementEngine _engine;

    /// <summary>Creates a cycle from a queue policy and a placement engine.</summary>
    public SchedulingCycle(IQueuePolicy queuePolicy, PlacementEngine engine)
    {
        _queuePolicy = queuePolicy;
        _engine = engine;
    }

    /// <summary>Runs one pass and allocates on <paramref name="nodes"/> for every job placed.</summary>
    public IReadOnlyList<SchedulingDecision> Run(
        IReadOnlyCollection<QueuedJob> waiting,
        IReadOnlyDictionary<string, NodeState> nodes,
        DateTimeOffset now)
    {
        var decisions = new List<SchedulingDecision>(waiting.Count);
        if (waiting.Count == 0)
        {
            return decisions;
        }

        var ordered = nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToArray();
        foreach (var job in _queuePolicy.Order(waiting, now))
        {
            var outcome = _engine.Find(job.Demand, ordered);
            if (outcome.Allocation is { } allocation)
            {
                nodes[allocation.NodeId].Allocate(allocation);
            }

            decisions.Add(new SchedulingDecision(job, outcome.Allocation, outcome.Reason));
        }

        return decisions;
    }
}
