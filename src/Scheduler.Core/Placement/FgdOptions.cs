namespace Scheduler.Core.Placement;

/// <summary>
/// Variations on fragmentation gradient descent. <see cref="AsPublished"/>: score as the paper's
/// simulator does, an integer 0..100 (sigmoid of the fragmentation decrease in GPUs); ties go to
/// the earlier node (the simulator's fixed, seeded node order). <see cref="MemoryAware"/>: a typical task that would
/// lack memory on the node strands its GPUs too. <see cref="PackingWeight"/>: weight of a best-fit
/// term (leftover fraction, 0..1) against the fragmentation increase in whole GPUs (not used with
/// <see cref="AsPublished"/>). <see cref="Coverage"/>: share of tasks the typical set covers; the
/// paper takes 95%, which drops rare shapes such as most GPU-model-constrained tasks.
/// <see cref="ParkCpuOnly"/>, <see cref="Levels"/> and <see cref="SharedLevels"/>: see <c>fgd-cpu</c> in <see cref="PlacementPolicies"/>.
/// </summary>
internal readonly record struct FgdOptions(bool AsPublished, bool MemoryAware, double PackingWeight, double Coverage)
{
    /// <summary>The simulator's integer score has 100 levels (its plugin's score range).</summary>
    public const int PublishedLevels = 100;

    /// <summary>
    /// With <see cref="AsPublished"/>: a CPU-only task that strands no GPU anywhere goes, among equal
    /// scores, to the node with the least idle GPU capacity (where it can strand none later).
    /// </summary>
    public bool ParkCpuOnly { get; init; }

    /// <summary>With <see cref="AsPublished"/>: the number of integer levels of the sigmoid score.</summary>
    public int Levels { get; init; } = PublishedLevels;

    /// <summary>As <see cref="Levels"/>, for a task that shares one GPU.</summary>
    public int SharedLevels { get; init; } = PublishedLevels;
}
