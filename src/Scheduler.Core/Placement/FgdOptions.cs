namespace Scheduler.Core.Placement;

/// <summary>
/// Variations on fragmentation gradient descent. <see cref="AsPublished"/>: score as the paper's
/// simulator does, an integer 0..100 (sigmoid of the fragmentation decrease in GPUs); ties go to
/// the earlier node (the simulator's fixed, seeded node order). <see cref="MemoryAware"/>: a typical task that would
/// lack memory on the node strands its GPUs too. <see cref="PackingWeight"/>: weight of a best-fit
/// term (leftover fraction, 0..1) against the fragmentation increase in whole GPUs (not used with
/// <see cref="AsPublished"/>). <see cref="Coverage"/>: share of tasks the typical set covers; the
/// paper takes 95%, which drops rare shapes such as most GPU-model-constrained tasks.
/// </summary>
internal readonly record struct FgdOptions(bool AsPublished, bool MemoryAware, double PackingWeight, double Coverage);
