using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Simulation;

/// <summary>One task (pod) of a trace. Times are seconds from the trace start; null where the trace has none.</summary>
public sealed record TraceTask(
    string Name,
    long CpuMillis,
    long MemoryMib,
    int GpuCount,
    int GpuMilli,
    IReadOnlyList<string> GpuModels,
    long? CreationTime,
    long? DeletionTime)
{
    /// <summary>One GPU with less than 1000 milli is a share of one GPU; otherwise whole GPUs.</summary>
    public ResourceRequest Request => GpuCount == 1 && GpuMilli is > 0 and < ResourceLimits.MilliPerGpu
        ? new ResourceRequest(CpuMillis, MemoryMib, GpuMilli: GpuMilli)
        : new ResourceRequest(CpuMillis, MemoryMib, Gpus: GpuCount);

    /// <summary>Requested GPU in milli-GPU, the protocol's measure of demand.</summary>
    public long GpuDemandMilli => Request.TotalGpuMilli;

    public JobDemand Demand(string id) => new(id, Request, GpuModels, NoSelector);

    private static readonly Dictionary<string, string> NoSelector = [];
}
