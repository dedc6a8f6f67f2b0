using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// Replays a task list in time: tasks arrive at their creation time and hold their resources for
/// their recorded run time (deletion minus scheduled time, or minus creation time for tasks the
/// trace never scheduled); departures free resources. A task that does not fit waits in a FIFO
/// queue, retried in order after departures; a later task may start before an earlier one that
/// still does not fit, so one huge task cannot block the cluster.
/// </summary>
public static class TimeReplay
{
    /// <summary>Runs the replay, or returns null when the tasks carry no creation/deletion times.</summary>
    public static TimeReplayResult? Run(IReadOnlyList<TraceNode> nodes, Workload workload, string policy, int seed)
    {
        var tasks = workload.Tasks;
        var arrivals = new List<int>(tasks.Count);
        for (var i = 0; i < tasks.Count; i++)
        {
            if (tasks[i].CreationTime is not null && tasks[i].DeletionTime is not null)
            {
                arrivals.Add(i);
            }
        }

        if (arrivals.Count == 0)
        {
            return null;
        }

        arrivals.Sort((a, b) =>
        {
            var c = tasks[a].CreationTime!.Value.CompareTo(tasks[b].CreationTime!.Value);
            return c != 0 ? c : a.CompareTo(b);
        });

        var cluster = TraceCluster.Build(nodes);
        var byId = cluster.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload.Distribution));
        var departures = new PriorityQueue<int, (long Time, int Task)>();
        var waiting = new List<int>();
        var delays = new List<double>(arrivals.Count);
        var delayed = 0;
        var placedOn = new NodeState?[tasks.Count];
        var demands = new JobDemand[tasks.Count];
        for (var i = 0; i < demands.Length; i++)
        {
            // Ids by position: task names need not be unique across a hand-made list.
            demands[i] = workload.Demands[i] with { JobId = i.ToString(CultureInfo.InvariantCulture) };
        }

        bool TryStart(int i, long now)
        {
            var allocation = engine.FindAllocation(demands[i], cluster);
            if (allocation is null)
            {
                return false;
            }

            var node = byId[allocation.NodeId];
            node.Allocate(allocation);
            placedOn[i] = node;
            var t = tasks[i];
            var runFrom = t.ScheduledTime ?? t.CreationTime!.Value;
            var runTime = Math.Max(0, t.DeletionTime!.Value - runFrom);
            departures.Enqueue(i, (now + runTime, i));
            var delay = now - t.CreationTime!.Value;
            delays.Add(delay);
            if (delay > 0)
            {
                delayed++;
            }

            return true;
        }

        void Depart(long until)
        {
            while (departures.TryPeek(out var i, out var at) && at.Time <= until)
            {
                departures.Dequeue();
                placedOn[i]!.Release(demands[i].JobId);
                placedOn[i] = null;

                // Departures at the same instant free capacity together before anyone retries.
                if (departures.TryPeek(out _, out var next) && next.Time == at.Time)
                {
                    continue;
                }

                if (waiting.Count > 0)
                {
                    waiting.RemoveAll(w => TryStart(w, at.Time));
                }
            }
        }

        foreach (var i in arrivals)
        {
            var now = tasks[i].CreationTime!.Value;
            Depart(now);
            if (!TryStart(i, now))
            {
                waiting.Add(i);
            }
        }

        Depart(long.MaxValue);
        return Summarise(arrivals.Count, delays, delayed, waiting.Count);
    }

    private static TimeReplayResult Summarise(int tasks, List<double> delays, int delayed, int neverStarted)
    {
        if (delays.Count == 0)
        {
            return new TimeReplayResult(tasks, 0, 0, neverStarted, 0, 0);
        }

        delays.Sort();
        double sum = 0;
        foreach (var d in delays)
        {
            sum += d;
        }

        // Nearest-rank percentile: the smallest delay at least 95% of started tasks did not exceed.
        var rank = (int)Math.Ceiling(0.95 * delays.Count) - 1;
        return new TimeReplayResult(tasks, delays.Count, delayed, neverStarted, sum / delays.Count, delays[Math.Clamp(rank, 0, delays.Count - 1)]);
    }
}
