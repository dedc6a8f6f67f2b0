using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Picks the node (and GPU) left with the least free capacity, weighing CPU and GPU equally,
/// the same leftover score the ATC'23 FGD paper uses for its best-fit baseline. Tight packing
/// keeps other nodes whole for the big multi-GPU jobs that arrive later.
/// </summary>
internal sealed class BestFitPolicy : IPlacementPolicy, ICacheableScores
{
    public string Name => PlacementPolicyNames.BestFit;

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    public int Prepare(JobDemand demand) => 0;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus) =>
        -Leftover.After(node, demand.Resources, gpus);
}
