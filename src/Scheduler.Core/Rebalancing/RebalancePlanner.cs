using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;

namespace Scheduler.Core.Rebalancing;

/// <summary>
/// Proposes at most <see cref="MaxMigrations"/> moves with one of two goals. <see cref="Plan"/>
/// lowers the load of the hottest node, where a node's load is its largest used fraction of CPU,
/// memory or GPU: each step moves one job off the current hottest node to wherever the pair ends
/// coolest. <see cref="PlanFragmentation"/> lowers the cluster's GPU fragmentation (see
/// <see cref="Fragmentation"/>). Both are greedy, plan on copies (targets are never overcommitted,
/// the real nodes are untouched), and give the same plan for the same input.
/// </summary>
public sealed partial class RebalancePlanner
{
    private const double Epsilon = 1e-9;

    /// <summary>Creates a planner that proposes at most <paramref name="maxMigrations"/> moves per plan.</summary>
    public RebalancePlanner(int maxMigrations = 4)
        : this(maxMigrations, DefaultMinFragmentationGain)
    {
    }

    /// <summary>
    /// As above; a fragmentation plan's moves must each lower the expected fragmentation by at least
    /// <paramref name="minFragmentationGain"/> milli-GPU.
    /// </summary>
    public RebalancePlanner(int maxMigrations, double minFragmentationGain)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxMigrations);
        ArgumentOutOfRangeException.ThrowIfNegative(minFragmentationGain);
        MaxMigrations = maxMigrations;
        MinFragmentationGain = minFragmentationGain;
    }

    /// <summary>Bound on moves per plan: migrations cost downtime and transfer.</summary>
    public int MaxMigrations { get; }

    /// <summary>A node's load: its largest used fraction of CPU, memory or GPU.</summary>
    public static double Load(NodeState node) =>
        Load(node, node.CpuFree, node.MemoryFree, node.GpuFreeMilliTotal);

    /// <summary>
    /// The moves that lower the hottest node's load, in the order to run them. Only allocations
    /// <paramref name="movable"/> accepts (default: all) move, each at most once, and only to nodes
    /// <paramref name="canReceive"/> accepts (default: all schedulable ones); <paramref name="demandOf"/>
    /// supplies a job's constraints (default: the GPU model it holds now, no label selector).
    /// </summary>
    public IReadOnlyList<Migration> Plan(
        IEnumerable<NodeState> nodes,
        Func<Allocation, bool>? movable = null,
        Func<Allocation, JobDemand>? demandOf = null,
        Func<NodeState, bool>? canReceive = null)
    {
        var ordered = nodes.OrderBy(n => n.Id, StringComparer.Ordinal).ToArray();
        var receivers = ordered.Where(n => canReceive?.Invoke(n) ?? true).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var scratch = ordered.ToDictionary(n => n.Id, n => new NodeScratch(n), StringComparer.Ordinal);
        var holdings = ordered.ToDictionary(
            n => n.Id,
            n => n.Allocations.Values.OrderBy(a => a.JobId, StringComparer.Ordinal).ToList(),
            StringComparer.Ordinal);
        var moved = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<Migration>();

        while (plan.Count < MaxMigrations)
        {
            var hottest = ordered.OrderByDescending(n => LoadOf(scratch[n.Id])).ThenBy(n => n.Id, StringComparer.Ordinal).FirstOrDefault();
            if (hottest is null)
            {
                break;
            }

            var source = scratch[hottest.Id];
            var current = LoadOf(source);
            Migration? best = null;
            var bestPeak = current - Epsilon;
            var bestTargetLoad = double.MaxValue;
            foreach (var allocation in holdings[hottest.Id])
            {
                if (moved.Contains(allocation.JobId) || !(movable?.Invoke(allocation) ?? true))
                {
                    continue;
                }

                var demand = demandOf?.Invoke(allocation) ?? DemandHeldOn(hottest, allocation);
                source.Release(allocation);
                var sourceAfter = LoadOf(source);
                source.Take(allocation);
                if (sourceAfter >= bestPeak)
                {
                    continue;
                }

                foreach (var target in ordered)
                {
                    if (ReferenceEquals(target, hottest) || !receivers.Contains(target.Id) || !NodeScratch.Eligible(target, demand))
                    {
                        continue;
                    }

                    var t = scratch[target.Id];
                    if (t.ChooseGpus(demand) is not { } gpus)
                    {
                        continue;
                    }

                    var candidate = new Allocation(allocation.JobId, target.Id, allocation.Resources, gpus);
                    t.Take(candidate);
                    var targetAfter = LoadOf(t);
                    t.Release(candidate);
                    var peak = Math.Max(sourceAfter, targetAfter);
                    if (peak < bestPeak - Epsilon || (peak < bestPeak + Epsilon && targetAfter < bestTargetLoad - Epsilon))
                    {
                        best = new Migration(allocation.JobId, hottest.Id, target.Id, candidate);
                        bestPeak = peak;
                        bestTargetLoad = targetAfter;
                    }
                }
            }

            if (best is null)
            {
                break;
            }

            var from = holdings[best.FromNode];
            var original = from.First(a => a.JobId == best.JobId);
            from.Remove(original);
            scratch[best.FromNode].Release(original);
            scratch[best.ToNode].Take(best.Target);
            holdings[best.ToNode].Add(best.Target);
            moved.Add(best.JobId);
            plan.Add(best);
        }

        return plan;
    }

    private static JobDemand DemandHeldOn(NodeState node, Allocation allocation)
    {
        var demand = JobDemand.Of(allocation.JobId, allocation.Resources);
        if (allocation.Gpus.Count == 0)
        {
            return demand;
        }

        // Keep the job on the GPU model it was placed on: its original constraint is not known here.
        var models = allocation.Gpus.Select(g => node.Gpus[g.Index].Model).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        return demand with { GpuModels = models };
    }

    private static double LoadOf(NodeScratch scratch) =>
        Load(scratch.Node, scratch.CpuFree, scratch.MemoryFree, SumGpuFree(scratch));

    private static long SumGpuFree(NodeScratch scratch)
    {
        long total = 0;
        foreach (var free in scratch.GpuFree)
        {
            total += free;
        }

        return total;
    }

    private static double Load(NodeState node, long cpuFree, long memoryFree, long gpuFree) =>
        Math.Max(
            Used(node.CpuCapacity, cpuFree),
            Math.Max(Used(node.MemoryCapacity, memoryFree), Used(node.GpuCapacityMilli, gpuFree)));

    private static double Used(long capacity, long free) => capacity <= 0 ? 0 : (double)(capacity - free) / capacity;
}
