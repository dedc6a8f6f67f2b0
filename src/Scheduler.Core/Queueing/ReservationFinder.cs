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
    /// The node and time <paramref name="demand"/> fits earliest (ties to the first node by id), or
    /// null when it never does; <paramref name="endOf"/> gives each allocated job's expected end.
    /// </summary>
    public static (NodeState Node, DateTimeOffset At)? Find(
        JobDemand demand,
        IEnumerable<NodeState> nodes,
        Func<string, DateTimeOffset> endOf,
        DateTimeOffset now)
    {
        (NodeState Node, DateTimeOffset At)? best = null;
        foreach (var node in nodes.OrderBy(n => n.Id, StringComparer.Ordinal))
        {
            if (!NodeScratch.Eligible(node, demand))
            {
                continue;
            }

            var scratch = new NodeScratch(node);
            if (scratch.Fits(demand))
            {
                return (node, now);
            }

            var ending = node.Allocations.Values
                .Select(a => (Allocation: a, End: endOf(a.JobId)))
                .Where(e => e.End != DateTimeOffset.MaxValue && (best is null || e.End < best.Value.At))
                .OrderBy(e => e.End)
                .ThenBy(e => e.Allocation.JobId, StringComparer.Ordinal)
                .ToArray();
            for (var i = 0; i < ending.Length; i++)
            {
                scratch.Release(ending[i].Allocation);
                var lastOfGroup = i == ending.Length - 1 || ending[i + 1].End != ending[i].End;
                if (lastOfGroup && scratch.Fits(demand))
                {
                    var at = ending[i].End < now ? now : ending[i].End;
                    best = (node, at);
                    break;
                }
            }
        }

        return best;
    }
}
