namespace Scheduler.Simulation;

/// <summary>
/// One row of a task list. <see cref="GpuMilli"/> is per GPU (1000 for whole GPUs, less for a
/// shared one); <see cref="GpuModels"/> is empty when any model will do. Times are seconds, null
/// where the file has none.
/// </summary>
public sealed record TraceTask(
    string Name,
    long CpuMillis,
    long MemoryMib,
    int GpuCount,
    int GpuMilli,
    IReadOnlyList<string> GpuModels,
    long? CreationTime,
    long? DeletionTime,
    long? ScheduledTime)
{
    /// <summary>True when the task takes a fraction of one GPU.</summary>
    public bool SharesGpu => GpuCount == 1 && GpuMilli is > 0 and < 1000;

    /// <summary>Milli-GPU the task asks for in total: the paper's unit of demand.</summary>
    public long TotalGpuMilli => SharesGpu ? GpuMilli : GpuCount * 1000L;
}
