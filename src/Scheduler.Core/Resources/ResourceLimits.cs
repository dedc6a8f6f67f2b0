namespace Scheduler.Core.Resources;

/// <summary>
/// Upper bounds past which a request is rejected as absurd rather than queued: nothing that large
/// exists on one host, so queueing it would only hide a typo.
/// </summary>
public static class ResourceLimits
{
    /// <summary>4096 cores.</summary>
    public const long MaxCpuMillis = 4_096_000;

    /// <summary>64 TiB.</summary>
    public const long MaxMemoryMib = 64L * 1024 * 1024;

    /// <summary>GPUs on one host.</summary>
    public const int MaxGpus = 64;

    /// <summary>Milli-GPU in one whole GPU.</summary>
    public const int MilliPerGpu = 1000;
}
