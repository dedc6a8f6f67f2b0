using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Gpu;

/// <summary>What the worker knows about its GPUs: a fixed inventory and point-in-time readings.</summary>
internal interface IGpuProbe : IDisposable
{
    /// <summary>"nvml" or "simulated", for logs and `--probe-only`.</summary>
    string Kind { get; }

    /// <summary>The GPUs found at start, in index order.</summary>
    IReadOnlyList<GpuInfo> Devices { get; }

    /// <summary>Current readings for every device; a device that cannot be read is left out.</summary>
    IReadOnlyList<GpuTelemetry> Sample(IReadOnlySet<string> busyUuids);
}
