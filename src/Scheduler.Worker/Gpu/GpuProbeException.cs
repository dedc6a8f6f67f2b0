namespace Scheduler.Worker.Gpu;

/// <summary>The GPU probe that was asked for cannot read this host's GPUs; the message is one line for an operator.</summary>
internal sealed class GpuProbeException : Exception
{
    public GpuProbeException(string message, bool driverMissing, Exception innerException)
        : base(message, innerException)
    {
        DriverMissing = driverMissing;
    }

    public GpuProbeException()
    {
    }

    public GpuProbeException(string message)
        : base(message)
    {
    }

    public GpuProbeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>True when the NVIDIA driver's library is not installed at all, rather than installed and failing.</summary>
    public bool DriverMissing { get; }
}
