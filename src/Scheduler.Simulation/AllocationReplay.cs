using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// The published protocol of "Beware of Fragmentation" (ATC'23), as its simulator
/// (hkust-adsl/kubernetes-scheduler-simulator, <c>Simulate</c> and <c>TunePodsByNodeTotalResource</c>)
/// runs it: every task of the list, shuffled with the seed; then, when their GPU demand is below 130%
/// of the cluster's capacity, tasks drawn uniformly with replacement are appended (after the
/// shuffled list, not mixed into it) until the next draw would pass 130%; when it is above (the
/// multigpu30/40 lists ask 130.2% and 152%), random tasks are removed until it is not. Placed one by
/// one, never removed; a task that fits nowhere is skipped; equal scores go to the first node of a
/// seeded random node order (the simulator's patched selectHost). Allocation at X% is the mean allocation
/// over every task whose arrival brings the arrived demand to X% once rounded to a whole percent
/// (the simulator's analysis script averages its per-task log lines so), falling back to X±1.
/// </summary>
public static class AllocationReplay
{
    /// <summary>Arrived demand, as a share of capacity, that the inflated list stops short of.</summary>
    public const double Inflation = 1.3;

    /// <summary>The task order for <paramref name="seed"/>: indices into the workload's tasks.</summary>
    public static int[] ArrivalOrder(Workload workload, long capacityMilli, int seed)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var random = new Random(seed);
        var count = workload.Tasks.Count;
        var shuffled = new int[count];
        long demand = 0;
        for (var i = 0; i < count; i++)
        {
            shuffled[i] = i;
            demand += workload.GpuMilli[i];
        }

        random.Shuffle(shuffled);
        var order = new List<int>(count * 2);
        order.AddRange(shuffled);
        var limit = Inflation * capacityMilli;
        if (demand > limit)
        {
            // Too much already: drop random tasks until the demand is within the limit.
            while (demand > limit && order.Count > 0)
            {
                var drop = random.Next(order.Count);
                demand -= workload.GpuMilli[order[drop]];
                order.RemoveAt(drop);
            }
        }
        else if (demand > 0)
        {
            // Append draws until one would pass the limit. Like the simulator, the test adds the
            // drawn task's milli-GPU per GPU (1000 for a multi-GPU task), the sum its total: a last
            // multi-GPU draw can end a little above 130%. A list with no GPU demand is not inflated.
            while (true)
            {
                var pick = random.Next(count);
                var task = workload.Tasks[pick];
                if (demand + (task.GpuCount == 0 ? 0 : task.GpuMilli) > limit)
                {
                    break;
                }

                order.Add(pick);
                demand += workload.GpuMilli[pick];
            }
        }

        return [.. order];
    }

    /// <summary>Runs one seed of the protocol with the policy called <paramref name="policy"/>.</summary>
    public static ReplayResult Run(IReadOnlyList<TraceNode> nodes, Workload workload, string policy, int seed)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var cluster = TraceCluster.Build(nodes);
        var capacity = TraceCluster.GpuCapacityMilli(nodes);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload.Distribution));

        // The simulator names its nodes after a seeded random permutation and gives a tie to the
        // first name: a fixed random node order per seed. The engine gives ties to the earlier node.
        new Random(unchecked(seed * 7919) ^ 0x5EED).Shuffle(cluster);
        var index = new PlacementIndex(cluster);
        var byId = new Dictionary<string, NodeState>(cluster.Length, StringComparer.Ordinal);
        foreach (var node in cluster)
        {
            byId.Add(node.Id, node);
        }

        var order = ArrivalOrder(workload, capacity, seed);
        var at100 = new Window(100);
        var at130 = new Window(130);
        var frag100 = new Window(100);
        long arrived = 0;
        long allocated = 0;
        var placed = 0;
        for (var k = 0; k < order.Length; k++)
        {
            var i = order[k];
            var milli = workload.GpuMilli[i];
            arrived += milli;
            var demand = workload.Demands[i] with { JobId = k.ToString(CultureInfo.InvariantCulture) };
            var allocation = engine.FindAllocation(demand, index);
            if (allocation is not null)
            {
                byId[allocation.NodeId].Allocate(allocation);
                allocated += milli;
                placed++;
            }

            var arrivedPercent = Percent(arrived, capacity);
            var allocatedPercent = Percent(allocated, capacity);
            at100.Add(arrivedPercent, allocatedPercent);
            at130.Add(arrivedPercent, allocatedPercent);
            if (frag100.Wants(arrivedPercent))
            {
                frag100.Add(arrivedPercent, Percent(Fragmentation.OfCluster(cluster, workload.Distribution), capacity));
            }
        }

        var end = Percent(allocated, capacity);
        var fragEnd = frag100.Count == 0 ? Percent(Fragmentation.OfCluster(cluster, workload.Distribution), capacity) : 0;
        return new ReplayResult(at100.Mean(end), at130.Mean(end), frag100.Mean(fragEnd), order.Length, placed);
    }

    private static double Percent(double part, long whole) => whole == 0 ? 0 : 100.0 * part / whole;

    /// <summary>
    /// The simulator's reading of a curve at a whole percent of arrived demand: the mean of the values
    /// logged while the arrived demand rounds to it (half to even, as Python's round), or, when no
    /// task arrived there, while it rounds to within one of it; else the value at the end of the run.
    /// </summary>
    private sealed class Window(int percent)
    {
        private double _sum;
        private int _count;
        private double _nearSum;
        private int _nearCount;

        public int Count => _count + _nearCount;

        public bool Wants(double arrivedPercent) =>
            Math.Abs(Math.Round(arrivedPercent, MidpointRounding.ToEven) - percent) <= 1;

        public void Add(double arrivedPercent, double value)
        {
            var distance = Math.Abs(Math.Round(arrivedPercent, MidpointRounding.ToEven) - percent);
            if (distance == 0)
            {
                _sum += value;
                _count++;
            }

            if (distance <= 1)
            {
                _nearSum += value;
                _nearCount++;
            }
        }

        public double Mean(double otherwise) =>
            _count > 0 ? _sum / _count : _nearCount > 0 ? _nearSum / _nearCount : otherwise;
    }
}
