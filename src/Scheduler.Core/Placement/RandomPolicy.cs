using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Random fit: every feasible choice is equally likely. The floor every other policy must clear;
/// seeded, so a replay is reproducible.
/// </summary>
internal sealed class RandomPolicy(int seed) : IPlacementPolicy
{
    private readonly Random _random = new(seed);

    public string Name => PlacementPolicyNames.Random;

    public double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus) => _random.NextDouble();
}
