using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Picks the node (and GPU) left with the least free capacity, weighing CPU and GPU equally,
/// the same leftover score the ATC'23 FGD paper uses for its best-fit baseline. Tight packing
/// keeps other nodes whole for the big multi-GPU jobs that arrive later.
/// </summary>
/// <remarks>
/// Two forms. The default (<c>best-fit</c>) measures the leftover as a fraction of the node's own
/// capacity and is deterministic (the earlier node wins a tie): the master's packing baseline.
/// <see cref="AsPublished"/> (<c>best-fit-paper</c>) scores as the paper's simulator does
/// (<c>BestFitScore</c>): leftover CPU and GPU in absolute units, each divided by the largest node
/// of the trace (128 cores, 8 GPUs), turned into an integer 0..100; ties go to the earlier node
/// (the simulator's fixed, seeded node order: see <see cref="FgdPolicy"/>).
/// The absolute measure prefers small nodes (a 2-GPU node left with one GPU scores above an
/// 8-GPU node left with seven), which is what makes it fill scarce GPU models early.
/// </remarks>
internal sealed class BestFitPolicy : IPlacementPolicy, ICacheableScores, IGpuTieBreak
{
    /// <summary>The simulator's normalisation: the largest node spec of the trace, CPU in millicores.</summary>
    internal const double PaperMaxCpuMillis = 128_000;

    /// <summary>The simulator's normalisation: the largest node spec of the trace, in milli-GPU.</summary>
    internal const double PaperMaxGpuMilli = 8_000;

    /// <summary>The default form, or the simulator's with <paramref name="asPublished"/>.</summary>
    public BestFitPolicy(bool asPublished = false)
    {
        AsPublished = asPublished;
    }

    /// <summary>True when scoring as the paper's simulator does.</summary>
    public bool AsPublished { get; }

    public string Name => AsPublished ? PlacementPolicyNames.BestFitPaper : PlacementPolicyNames.BestFit;

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    public int Prepare(JobDemand demand) => 0;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus)
    {
        if (!AsPublished)
        {
            return -Leftover.After(node, demand.Resources, gpus);
        }

        long taken = 0;
        for (var i = 0; i < gpus.Count; i++)
        {
            taken += gpus[i].Milli;
        }

        var cpuLeft = node.CpuFree - demand.Resources.CpuMillis;
        var gpuLeft = node.GpuFreeMilliTotal - taken;
        var leftover = (0.5 * cpuLeft / PaperMaxCpuMillis) + (0.5 * gpuLeft / PaperMaxGpuMilli);
        return Math.Floor((1 - leftover) * 100);
    }

    // Within a node the simulator's GPU choice (best fit) takes the fullest GPU with room.
    public double GpuTieBreak(NodeState node, IReadOnlyList<GpuShare> gpus) =>
        gpus.Count == 1 ? -(node.GpuFreeMilli[gpus[0].Index] - gpus[0].Milli) : 0;
}
