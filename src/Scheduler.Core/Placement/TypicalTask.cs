namespace Scheduler.Core.Placement;

/// <summary>
/// One task shape of a workload and how often it occurs: the unit in which fragmentation is
/// measured. <see cref="GpuMilli"/> is per GPU (1000 for whole GPUs); <see cref="GpuModels"/> is
/// empty when any model will do.
/// </summary>
public sealed record TypicalTask(long CpuMillis, long MemoryMib, int GpuCount, int GpuMilli, IReadOnlyList<string> GpuModels, double Weight);
