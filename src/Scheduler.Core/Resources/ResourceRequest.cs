namespace Scheduler.Core.Resources;

/// <summary>
/// What one job asks for. <see cref="Gpus"/> are whole GPUs used exclusively;
/// <see cref="GpuMilli"/> (1..999) is a share of a single GPU. A job asks one or the other, not both.
/// </summary>
public readonly record struct ResourceRequest(long CpuMillis, long MemoryMib, int Gpus = 0, int GpuMilli = 0)
{
    /// <summary>Milli-GPU needed in total: 1000 per whole GPU plus the shared fraction.</summary>
    public long TotalGpuMilli => (Gpus * 1000L) + GpuMilli;

    /// <summary>True when the job needs any GPU capacity.</summary>
    public bool NeedsGpu => Gpus > 0 || GpuMilli > 0;

    /// <summary>True when the job takes a fraction of one GPU rather than whole GPUs.</summary>
    public bool IsSharedGpu => Gpus == 0 && GpuMilli > 0;
}
