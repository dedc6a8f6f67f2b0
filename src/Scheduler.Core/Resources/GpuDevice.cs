namespace Scheduler.Core.Resources;

/// <summary>A physical GPU of a node, as its worker's probe reported it.</summary>
public readonly record struct GpuDevice(int Index, string Uuid, string Model, long MemoryMib)
{
    /// <summary>Its NVLink island, PCIe switch and NUMA node; all 0 when the worker reported no topology.</summary>
    public GpuTopology Topology { get; init; }
}
