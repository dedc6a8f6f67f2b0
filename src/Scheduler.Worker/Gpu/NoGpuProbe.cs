using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Gpu;

/// <summary>A host without GPUs: the node offers CPU and memory only.</summary>
internal sealed class NoGpuProbe : IGpuProbe
{
    public string Kind => "none";

    public IReadOnlyList<GpuInfo> Devices => [];

    public IReadOnlyList<GpuTelemetry> Sample(IReadOnlySet<string> busyUuids) => [];

    public void Dispose()
    {
    }
}
