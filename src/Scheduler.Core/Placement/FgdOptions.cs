namespace Scheduler.Core.Placement;

/// <summary>
/// Variations on fragmentation gradient descent. <see cref="MemoryAware"/>: a typical task that
/// would lack memory on the node strands its GPUs too. <see cref="PackingWeight"/>: weight of a
/// best-fit term (leftover fraction, 0..1) against the fragmentation increase in whole GPUs.
/// </summary>
internal readonly record struct FgdOptions(bool MemoryAware, double PackingWeight);
