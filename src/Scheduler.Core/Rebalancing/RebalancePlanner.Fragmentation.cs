using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;

namespace Scheduler.Core.Rebalancing;

public sealed partial class RebalancePlanner
{
    /// <summary>
    /// Default for <see cref="MinFragmentationGain"/>: a tenth of a GPU of expected fragmentation, so
    /// that a move's downtime and transfer buy something a typical task can use.
    /// </summary>
    public const double DefaultMinFragmentationGain = 100;

    /// <summary>
    /// Source nodes a fragmentation step looks at, most fragmented first: bounds a step's cost on a
    /// large cluster (moves off unfragmented nodes rarely lower the sum, see <see cref="PlanFragmentation"/>).
    /// </summary>
    public const int FragmentationSourcesPerStep = 64;

    /// <summary>Least decrease of expected fragmentation, in milli-GPU, that one fragmentation move must bring.</summary>
    public double MinFragmentationGain { get; }

    /// <summary>
    /// The moves that lower the cluster's GPU fragmentation (<see cref="Fragmentation.OfCluster"/>
    /// against <paramref name="workload"/>), in the order to run them. Greedy: each step takes the
    /// single move with the largest decrease, counting both the source (what its departure frees may
    /// be stranded) and the target (what it fills may have been stranded), and stops when no move
    /// gains <see cref="MinFragmentationGain"/>. Only allocations <paramref name="movable"/> accepts
    /// move, each at most once, to nodes <paramref name="canReceive"/> accepts; <paramref name="demandOf"/>
    /// supplies a job's constraints (default: the GPU model it holds now, no label selector);
    /// <paramref name="memoryAware"/> as in <see cref="Fragmentation.OfNode"/>.
    /// </summary>
    public IReadOnlyList<Migration> PlanFragmentation(
        IEnumerable<NodeState> nodes,
        TaskDistribution workload,
        Func<Allocation, bool>? movable = null,
        Func<Allocation, JobDemand>? demandOf = null,
        Func<NodeState, bool>? canReceive = null,
        bool memoryAware = false)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var plan = new List<Migration>();
        var typical = workload.TypicalArray;
        if (typical.Length == 0 || MaxMigrations == 0)
        {
            return plan;
        }

        var ordered = nodes
            .OrderBy(n => n.Id, StringComparer.Ordinal)
            .Select(n => new FragNode(n, Fragmentation.AccessMasks(n, typical), canReceive?.Invoke(n) ?? true))
            .ToArray();
        var byId = ordered.ToDictionary(n => n.Node.Id, StringComparer.Ordinal);
        foreach (var n in ordered)
        {
            n.Frag = Measure(n, typical, memoryAware);
        }

        var moved = new HashSet<string>(StringComparer.Ordinal);
        var classes = new HashSet<ulong>();
        while (plan.Count < MaxMigrations)
        {
            Migration? best = null;
            var bestGain = MinFragmentationGain - Epsilon;
            var sources = ordered
                .Where(n => n.Holdings.Count > 0)
                .OrderByDescending(n => n.Frag)
                .ThenBy(n => n.Node.Id, StringComparer.Ordinal)
                .Take(FragmentationSourcesPerStep);
            foreach (var source in sources)
            {
                foreach (var allocation in source.Holdings)
                {
                    if (moved.Contains(allocation.JobId) || !(movable?.Invoke(allocation) ?? true))
                    {
                        continue;
                    }

                    var demand = demandOf?.Invoke(allocation) ?? DemandHeldOn(source.Node, allocation);
                    source.Scratch.Release(allocation);
                    var sourceGain = source.Frag - Measure(source, typical, memoryAware);
                    source.Scratch.Take(allocation);

                    classes.Clear();
                    foreach (var target in ordered)
                    {
                        if (ReferenceEquals(target, source) || !target.CanReceive || !NodeScratch.Eligible(target.Node, demand))
                        {
                            continue;
                        }

                        // Untouched nodes with equal keys are interchangeable: score one per class.
                        if (!target.Touched && !classes.Add(target.Node.EquivalenceKey))
                        {
                            continue;
                        }

                        if (target.Scratch.ChooseGpus(demand) is not { } gpus)
                        {
                            continue;
                        }

                        var candidate = new Allocation(allocation.JobId, target.Node.Id, allocation.Resources, gpus);
                        target.Scratch.Take(candidate);
                        var gain = sourceGain + target.Frag - Measure(target, typical, memoryAware);
                        target.Scratch.Release(candidate);
                        if (gain > bestGain + Epsilon)
                        {
                            best = new Migration(allocation.JobId, source.Node.Id, target.Node.Id, candidate);
                            bestGain = gain;
                        }
                    }
                }
            }

            if (best is null)
            {
                break;
            }

            var from = byId[best.FromNode];
            var to = byId[best.ToNode];
            var original = from.Holdings.First(a => a.JobId == best.JobId);
            from.Holdings.Remove(original);
            from.Scratch.Release(original);
            to.Scratch.Take(best.Target);
            to.Holdings.Add(best.Target);
            from.Touched = to.Touched = true;
            from.Frag = Measure(from, typical, memoryAware);
            to.Frag = Measure(to, typical, memoryAware);
            moved.Add(best.JobId);
            plan.Add(best);
        }

        return plan;
    }

    private static double Measure(FragNode n, TypicalTask[] typical, bool memoryAware) =>
        Fragmentation.Compute(n.Scratch.CpuFree, n.Scratch.MemoryFree, n.Scratch.GpuFree, n.Masks, typical, memoryAware);

    private sealed class FragNode(NodeState node, ulong[] masks, bool canReceive)
    {
        public NodeState Node { get; } = node;

        public ulong[] Masks { get; } = masks;

        public bool CanReceive { get; } = canReceive;

        public NodeScratch Scratch { get; } = new(node);

        public List<Allocation> Holdings { get; } = [.. node.Allocations.Values.OrderBy(a => a.JobId, StringComparer.Ordinal)];

        public double Frag { get; set; }

        /// <summary>Changed by the plan: its <see cref="NodeState.EquivalenceKey"/> no longer describes it.</summary>
        public bool Touched { get; set; }
    }
}
