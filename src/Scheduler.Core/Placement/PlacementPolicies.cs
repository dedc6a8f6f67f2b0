namespace Scheduler.Core.Placement;

/// <summary>Creates placement policies by their configured name.</summary>
public static class PlacementPolicies
{
    /// <summary>The policy used when configuration names none: the winner of the trace benchmark.</summary>
    public const string Default = PlacementPolicyNames.FgdCpu;

    /// <summary>Every known policy name.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        PlacementPolicyNames.BestFit,
        PlacementPolicyNames.BestFitPaper,
        PlacementPolicyNames.DotProduct,
        PlacementPolicyNames.Spread,
        PlacementPolicyNames.GpuPacking,
        PlacementPolicyNames.GpuClustering,
        PlacementPolicyNames.Random,
        PlacementPolicyNames.Fgd,
        PlacementPolicyNames.FragPack,
        PlacementPolicyNames.FgdMem,
        PlacementPolicyNames.FgdCpu,
    ];

    // A shared-GPU task's placements differ by slivers of one GPU, which the simulator's 100 levels
    // (about 0.04 GPU a level near zero) often merge: 250 tell them apart. Whole-GPU tasks keep 100:
    // their near-equal nodes tie and go to the seeded node order, which places better than finer or
    // exact scores (250 for every task lost 1.1 points on gpuspec10: see README, Scheduling).
    private const int FgdCpuSharedLevels = 250;

    /// <summary>The policy called <paramref name="name"/>; throws <see cref="ArgumentException"/> for an unknown name.</summary>
    public static IPlacementPolicy Create(string name, int seed = 42) => Create(name, seed, workload: null);

    /// <summary>
    /// The policy called <paramref name="name"/>. Fragmentation-aware policies measure against
    /// <paramref name="workload"/>; without one they learn the task distribution from the jobs they
    /// place. Other policies ignore it. Each call returns a fresh instance (policies hold caches and
    /// random state: one per scheduling loop or simulation).
    /// </summary>
    public static IPlacementPolicy Create(string name, int seed, TaskDistribution? workload) => name switch
    {
        PlacementPolicyNames.BestFit => new BestFitPolicy(),
        PlacementPolicyNames.BestFitPaper => new BestFitPolicy(asPublished: true),
        PlacementPolicyNames.Spread => new SpreadPolicy(),
        PlacementPolicyNames.DotProduct => new DotProductPolicy(),
        PlacementPolicyNames.GpuPacking => new GpuPackingPolicy(),
        PlacementPolicyNames.GpuClustering => new GpuClusteringPolicy(),
        PlacementPolicyNames.Random => new RandomPolicy(seed),
        PlacementPolicyNames.Fgd => new FgdPolicy(name, workload, new FgdOptions(AsPublished: true, MemoryAware: false, PackingWeight: 0, Coverage: TaskDistribution.DefaultCoverage)),
        PlacementPolicyNames.FragPack => new FgdPolicy(name, workload, new FgdOptions(AsPublished: false, MemoryAware: true, PackingWeight: 0.1, Coverage: TaskDistribution.DefaultCoverage)),
        PlacementPolicyNames.FgdMem => new FgdPolicy(name, workload, new FgdOptions(AsPublished: true, MemoryAware: true, PackingWeight: 0, Coverage: 1.0)),
        PlacementPolicyNames.FgdCpu => new FgdPolicy(name, workload, new FgdOptions(AsPublished: true, MemoryAware: true, PackingWeight: 0, Coverage: 1.0)
        {
            ParkCpuOnly = true,
            SharedLevels = FgdCpuSharedLevels,
        }),
        _ => throw new ArgumentException(
            $"Unknown placement policy '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>True when <paramref name="name"/> is a known policy.</summary>
    public static bool IsKnown(string name) => Names.Contains(name, StringComparer.Ordinal);
}
