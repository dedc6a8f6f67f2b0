namespace Scheduler.Worker.Gpu;

/// <summary>
/// Chooses the probe. Simulated GPUs only when asked for by name: a worker that invents GPUs makes the
/// master place jobs on hardware that is not there. `auto` (the default) reads NVML; a host without the
/// NVIDIA driver at all is a CPU-only node, which is a legitimate deployment, so it starts with no GPUs and
/// says so at warning level. A host whose driver is installed but fails is a GPU host that is broken:
/// starting it without its GPUs would hide the fault behind a node that looks healthy, so it refuses to
/// start, as `nvml` does whenever NVML cannot be read.
/// </summary>
internal static partial class GpuProbeFactory
{
    public const string Auto = "auto";
    public const string Nvml = "nvml";
    public const string Simulated = "simulated";

    public static IGpuProbe Create(WorkerOptions options, string nodeId, ILogger logger)
    {
        if (options.GpuProbe == Simulated)
        {
            return CreateSimulated(options, nodeId);
        }

        try
        {
            var nvml = OpenNvml();
            if (nvml.TopologyNote.Length > 0)
            {
                LogTopologyPartial(logger, nvml.TopologyNote);
            }

            return nvml;
        }
        catch (GpuProbeException ex) when (options.GpuProbe == Auto && ex.DriverMissing)
        {
            LogNoGpus(logger, ex.Message);
            return new NoGpuProbe();
        }
    }

    /// <summary>Simulated GPUs as the options describe them, topology included.</summary>
    public static SimulatedGpuProbe CreateSimulated(WorkerOptions options, string nodeId) =>
        new(nodeId, options.Gpus, options.GpuModel, options.GpuMemoryMib, options.SimGpuTopology);

    /// <summary>Why the worker must not start with these options (one line), or null when the probe can be made.</summary>
    public static string? Refusal(WorkerOptions options)
    {
        if (options.GpuProbe is not (Auto or Nvml or Simulated))
        {
            return $"--gpu-probe must be auto, nvml or simulated (got '{options.GpuProbe}')";
        }

        if (options.SimGpuTopology.Length > 0)
        {
            if (options.GpuProbe != Simulated && options.Simulate == 0)
            {
                return $"{SimulatedTopology.Option} describes simulated GPUs: it needs --gpu-probe simulated (or --simulate N); NVML reads a real host's topology";
            }

            try
            {
                _ = SimulatedTopology.Parse(options.SimGpuTopology, options.Gpus);
            }
            catch (FormatException ex)
            {
                return ex.Message;
            }
        }

        if (options.GpuProbe == Simulated || options.Simulate > 0)
        {
            return null;
        }

        try
        {
            OpenNvml().Dispose();
            return null;
        }
        catch (GpuProbeException ex)
        {
            return options.GpuProbe == Nvml ? ex.Message
                : ex.DriverMissing ? null
                : $"{ex.Message}; the NVIDIA driver is installed but fails, so this GPU host refuses to start without its GPUs (--gpu-probe auto)";
        }
    }

    private static NvmlGpuProbe OpenNvml()
    {
        try
        {
            return new NvmlGpuProbe();
        }
        catch (DllNotFoundException ex)
        {
            throw new GpuProbeException($"NVML is not available: {NvmlNative.Library} could not be loaded (is the NVIDIA driver installed?)", driverMissing: true, ex);
        }
        catch (EntryPointNotFoundException ex)
        {
            throw new GpuProbeException($"NVML is not usable: {NvmlNative.Library} lacks a function the worker needs (driver too old?): {ex.Message}", driverMissing: false, ex);
        }
        catch (NvmlException ex)
        {
            throw new GpuProbeException($"NVML failed: {ex.Message}", driverMissing: false, ex);
        }
    }

    [LoggerMessage(2, LogLevel.Warning, "GPU topology only partly read ({Note}): jobs that require a topology (nvlink, pcie-switch, numa) may not be placed on this node")]
    private static partial void LogTopologyPartial(ILogger logger, string note);

    [LoggerMessage(1, LogLevel.Warning, "{Reason}: this node offers NO GPUs, only CPU and memory. On a GPU host install the NVIDIA driver, or pass --gpu-probe nvml to refuse to start without it; --gpu-probe simulated fakes GPUs for tests")]
    private static partial void LogNoGpus(ILogger logger, string reason);
}
