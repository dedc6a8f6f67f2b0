using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// Replays a trace in time: tasks arrive at their creation time and leave after their recorded
/// run time (deletion − creation) once placed; what does not fit waits in a FIFO queue and is
/// retried, in order, whenever something leaves. Reports how long placed tasks waited.
/// </summary>
public static class TimeReplay
{
    /// <summary>Null when the trace has no creation/deletion times.</summary>
    public static TimeReplayResult? Run(IReadOnlyList<TraceNode> nodes, IReadOnlyList<TraceTask> tasks, string policy, int seed, TaskDistribution workload)
    {
        var timed = tasks
            .Select((t, i) => (Task: t, Id: $"t{i}"))
            .Where(x => x.Task.CreationTime is not null && x.Task.DeletionTime > x.Task.CreationTime)
            .OrderBy(x => x.Task.CreationTime)
            .ThenBy(x => x.Id, StringComparer.Ordinal)
            .ToArray();
        if (timed.Length == 0)
        {
            return null;
        }

        var states = nodes.Select(n => n.ToState()).ToArray();
        var byName = states.ToDictionary(s => s.Id, StringComparer.Ordinal);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload));
        var departures = new PriorityQueue<(string Node, string Job), long>();
        var waiting = new LinkedList<(TraceTask Task, string Id)>();
        var delays = new List<double>(timed.Length);
        var impossible = 0;
        var next = 0;
        while (next < timed.Length || departures.Count > 0)
        {
            var arrivalAt = next < timed.Length ? timed[next].Task.CreationTime!.Value : long.MaxValue;
            var departureAt = departures.TryPeek(out _, out var d) ? d : long.MaxValue;
            var now = Math.Min(arrivalAt, departureAt);
            while (departures.TryPeek(out var leaving, out var at) && at == now)
            {
                departures.Dequeue();
                byName[leaving.Node].Release(leaving.Job);
            }

            while (next < timed.Length && timed[next].Task.CreationTime == now)
            {
                waiting.AddLast(timed[next]);
                next++;
            }

            for (var node = waiting.First; node is not null;)
            {
                var (task, id) = node.Value;
                var following = node.Next;
                var outcome = engine.Find(task.Demand(id), states);
                if (outcome.Allocation is { } allocation)
                {
                    byName[allocation.NodeId].Allocate(allocation);
                    departures.Enqueue((allocation.NodeId, id), now + (task.DeletionTime!.Value - task.CreationTime!.Value));
                    delays.Add(now - task.CreationTime.Value);
                    waiting.Remove(node);
                }
                else if (departures.Count == 0 && next >= timed.Length)
                {
                    // Nothing will ever free up: it can never be placed.
                    impossible++;
                    waiting.Remove(node);
                }

                node = following;
            }
        }

        delays.Sort();
        return new TimeReplayResult(
            timed.Length,
            delays.Count,
            impossible + waiting.Count,
            delays.Count == 0 ? 0 : delays.Average(),
            delays.Count == 0 ? 0 : delays[(int)Math.Ceiling(0.95 * delays.Count) - 1],
            delays.Count == 0 ? 0 : delays[^1]);
    }
}
