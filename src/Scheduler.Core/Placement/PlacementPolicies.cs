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

    // Finer than the simulator's 100 levels, so fractional-GPU differences of a shared task are told
    // apart, yet coarse enough that near-equal nodes still tie and go to the seeded node order (exact
    // scores, with no ties at all, place worse: see README, Scheduling).
    private const int FgdCpuLevels = 250;

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
            Levels = FgdCpuLevels,
        }),
        _ => throw new ArgumentException(
            $"Unknown placement policy '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>True when <paramref name="name"/> is a known policy.</summary>
    public static bool IsKnown(string name) => Names.Contains(name, StringComparer.Ordinal);
}
