namespace Scheduler.Worker.Gpu;

/// <summary>Chooses the probe: NVML where the driver loads (or is demanded), the simulated one otherwise.</summary>
internal static partial class GpuProbeFactory
{
    public static IGpuProbe Create(WorkerOptions options, string nodeId, ILogger logger)
    {
        if (options.GpuProbe == "simulated")
        {
            return Simulated(options, nodeId);
        }

        try
        {
            return new NvmlGpuProbe();
        }
        catch (Exception ex) when (options.GpuProbe == "auto" && ex is DllNotFoundException or EntryPointNotFoundException or NvmlException)
        {
            LogFallback(logger, ex.Message, options.Gpus, options.GpuModel);
            return Simulated(options, nodeId);
        }
    }

    private static SimulatedGpuProbe Simulated(WorkerOptions options, string nodeId) =>
        new(nodeId, options.Gpus, options.GpuModel, options.GpuMemoryMib);

    [LoggerMessage(1, LogLevel.Information, "NVML unavailable ({Reason}); simulating {Count} x {Model}")]
    private static partial void LogFallback(ILogger logger, string reason, int count, string model);
}
