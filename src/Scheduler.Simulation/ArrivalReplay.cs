using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// The published protocol of "Beware of Fragmentation" (ATC'23): every task of the list, plus
/// tasks drawn uniformly with replacement until the requested GPU would pass 130% of the
/// cluster's capacity; shuffled with the seed; placed one by one, never removed; a task that fits
/// nowhere is skipped. Allocation is read when the arrived demand reaches 100% and at the end (130%).
/// </summary>
public static class ArrivalReplay
{
    public const double FinalDemand = 1.3;

    /// <summary>One seed: allocation at 100% and 130% arrived demand and fragmentation at 100%, in percent of GPU capacity.</summary>
    public static (double Alloc100, double Alloc130, double Frag100) Run(
        IReadOnlyList<TraceNode> nodes,
        IReadOnlyList<TraceTask> tasks,
        string policy,
        int seed,
        TaskDistribution workload)
    {
        var random = new Random(seed);
        var order = Inflate(tasks, nodes, random);
        Shuffle(order, random);

        var states = nodes.Select(n => n.ToState()).ToArray();
        var byName = states.ToDictionary(s => s.Id, StringComparer.Ordinal);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload));
        double capacity = Capacity(nodes);
        long arrived = 0, allocated = 0;
        double? alloc100 = null, frag100 = null;
        for (var i = 0; i < order.Count; i++)
        {
            var task = order[i];
            var outcome = engine.Find(task.Demand($"t{i}"), states);
            if (outcome.Allocation is { } allocation)
            {
                byName[allocation.NodeId].Allocate(allocation);
                allocated += task.GpuDemandMilli;
            }

            arrived += task.GpuDemandMilli;
            if (alloc100 is null && arrived >= capacity)
            {
                alloc100 = allocated / capacity * 100;
                frag100 = Fragmentation.OfCluster(states, workload) / capacity * 100;
            }
        }

        return (alloc100 ?? allocated / capacity * 100, allocated / capacity * 100, frag100 ?? Fragmentation.OfCluster(states, workload) / capacity * 100);
    }

    public static long Capacity(IReadOnlyList<TraceNode> nodes) => nodes.Sum(n => (long)n.GpuCount) * 1000;

    /// <summary>The task list plus uniform draws with replacement until the next draw would pass 130% of capacity.</summary>
    internal static List<TraceTask> Inflate(IReadOnlyList<TraceTask> tasks, IReadOnlyList<TraceNode> nodes, Random random)
    {
        var limit = (long)(Capacity(nodes) * FinalDemand);
        var list = new List<TraceTask>(tasks);
        var total = tasks.Sum(t => t.GpuDemandMilli);
        while (tasks.Count > 0)
        {
            var next = tasks[random.Next(tasks.Count)];
            if (total + next.GpuDemandMilli > limit)
            {
                break;
            }

            list.Add(next);
            total += next.GpuDemandMilli;
        }

        return list;
    }

    internal static void Shuffle<T>(List<T> list, Random random)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
