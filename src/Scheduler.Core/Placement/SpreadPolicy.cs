using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Picks the node (and GPU) left with the most free capacity: load, heat and the blast radius
/// of one host failure are spread out, at the price of fragmenting GPUs.
/// </summary>
internal sealed class SpreadPolicy : IPlacementPolicy, ICacheableScores
{
    public string Name => PlacementPolicyNames.Spread;

    public bool ScoresNodeStateOnly => true;

    public bool ScoresCacheable => true;

    public int Prepare(JobDemand demand) => 0;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus) =>
        Leftover.After(node, demand.Resources, gpus);
}
