using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Queueing;

/// <summary>
/// The earliest time a job fits on some node if nothing new starts: each node's allocations are
/// released in order of expected end until the job fits. Work with no known end never frees up.
/// </summary>
public static class ReservationFinder
{
    /// <summary>
    /// The node and time <paramref name="demand"/> fits earliest (a node it fits at once first; ties to the first node by id), or
    /// null when it never does; <paramref name="endOf"/> gives each allocated job's expected end.
    /// </summary>
    public static (NodeState Node, DateTimeOffset At)? Find(
        JobDemand demand,
        IEnumerable<NodeState> nodes,
        Func<string, DateTimeOffset> endOf,
        DateTimeOffset now)
    {
        // The earliest (time, node id) over all nodes, without sorting the nodes: a master asks this
        // for up to a few blocked jobs a pass over every node, and most nodes hold work with no known end.
        // A node the job fits now wins outright (the first by id), as in the sorted search, which stopped
        // at the first: one that fits "now" only because work past its expected end is taken to end this
        // instant does not beat it.
        (NodeState Node, DateTimeOffset At)? best = null;
        NodeState? fitsNow = null;
        var ending = new List<(Allocation Allocation, DateTimeOffset End)>();
        foreach (var node in nodes)
        {
            if (!NodeScratch.Eligible(node, demand))
            {
                continue;
            }

            if (fitsNow is not null && string.CompareOrdinal(node.Id, fitsNow.Id) > 0)
            {
                continue;
            }

            var scratch = new NodeScratch(node);
            if (scratch.Fits(demand))
            {
                fitsNow = node;
                continue;
            }

            if (fitsNow is not null)
            {
                continue;
            }

            // Only ends that could tie or beat the best so far matter.
            ending.Clear();
            foreach (var allocation in node.Allocations.Values)
            {
                var end = endOf(allocation.JobId);
                if (end != DateTimeOffset.MaxValue && (best is null || end <= best.Value.At))
                {
                    ending.Add((allocation, end));
                }
            }

            if (ending.Count == 0)
            {
                continue;
            }

            ending.Sort(static (a, b) =>
            {
                var byEnd = a.End.CompareTo(b.End);
                return byEnd != 0 ? byEnd : string.CompareOrdinal(a.Allocation.JobId, b.Allocation.JobId);
            });
            for (var i = 0; i < ending.Count; i++)
            {
                scratch.Release(ending[i].Allocation);
                var lastOfGroup = i == ending.Count - 1 || ending[i + 1].End != ending[i].End;
                if (lastOfGroup && scratch.Fits(demand))
                {
                    Keep(ref best, node, ending[i].End < now ? now : ending[i].End);
                    break;
                }
            }
        }

        return fitsNow is not null ? (fitsNow, now) : best;
    }

    // Earlier wins; at the same time, the node whose id sorts first.
    private static void Keep(ref (NodeState Node, DateTimeOffset At)? best, NodeState node, DateTimeOffset at)
    {
        if (best is not { } current || at < current.At
            || (at == current.At && string.CompareOrdinal(node.Id, current.Node.Id) < 0))
        {
            best = (node, at);
        }
    }
}
