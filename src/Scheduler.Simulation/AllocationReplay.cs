using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// The published protocol of "Beware of Fragmentation" (ATC'23): every task of the list, then
/// tasks drawn uniformly with replacement until the demand would pass 130% of the cluster's GPU
/// capacity; shuffled; placed one by one, never removed; a task that fits nowhere is skipped.
/// Allocation is read when arrived demand reaches 100% and at the end (130%).
/// </summary>
public static class AllocationReplay
{
    /// <summary>Arrived demand, as a share of capacity, that the inflated list stops short of.</summary>
    public const double Inflation = 1.3;

    /// <summary>The task order for <paramref name="seed"/>: indices into the workload's tasks.</summary>
    public static int[] ArrivalOrder(Workload workload, long capacityMilli, int seed)
    {
        var random = new Random(seed);
        var limit = (long)(capacityMilli * Inflation);
        var order = new List<int>(workload.Tasks.Count * 2);
        long demand = 0;
        for (var i = 0; i < workload.Tasks.Count; i++)
        {
            order.Add(i);
            demand += workload.GpuMilli[i];
        }

        // A list with no GPU demand never reaches the limit: stop drawing rather than loop forever.
        var anyGpu = demand > 0;
        while (anyGpu && workload.Tasks.Count > 0)
        {
            var pick = random.Next(workload.Tasks.Count);
            if (demand + workload.GpuMilli[pick] > limit)
            {
                break;
            }

            order.Add(pick);
            demand += workload.GpuMilli[pick];
        }

        var array = order.ToArray();
        random.Shuffle(array);
        return array;
    }

    /// <summary>Runs one seed of the protocol with the policy called <paramref name="policy"/>.</summary>
    public static ReplayResult Run(IReadOnlyList<TraceNode> nodes, Workload workload, string policy, int seed)
    {
        var cluster = TraceCluster.Build(nodes);
        var capacity = TraceCluster.GpuCapacityMilli(nodes);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload.Distribution));
        var byId = new Dictionary<string, NodeState>(cluster.Length, StringComparer.Ordinal);
        foreach (var node in cluster)
        {
            byId.Add(node.Id, node);
        }

        var order = ArrivalOrder(workload, capacity, seed);
        long arrived = 0;
        long allocated = 0;
        var placed = 0;
        double? alloc100 = null;
        double frag100 = 0;
        for (var k = 0; k < order.Length; k++)
        {
            var i = order[k];
            var milli = workload.GpuMilli[i];
            if (alloc100 is null && arrived + milli > capacity)
            {
                alloc100 = Percent(allocated, capacity);
                frag100 = Percent(Fragmentation.OfCluster(cluster, workload.Distribution), capacity);
            }

            arrived += milli;
            var demand = workload.Demands[i] with { JobId = k.ToString(CultureInfo.InvariantCulture) };
            var allocation = engine.FindAllocation(demand, cluster);
            if (allocation is not null)
            {
                byId[allocation.NodeId].Allocate(allocation);
                allocated += milli;
                placed++;
            }
        }

        if (alloc100 is null)
        {
            alloc100 = Percent(allocated, capacity);
            frag100 = Percent(Fragmentation.OfCluster(cluster, workload.Distribution), capacity);
        }

        return new ReplayResult(alloc100.Value, Percent(allocated, capacity), frag100, order.Length, placed);
    }

    private static double Percent(double part, long whole) => whole == 0 ? 0 : 100.0 * part / whole;
}
