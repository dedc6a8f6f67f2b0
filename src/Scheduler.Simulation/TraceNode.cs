using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Simulation;

/// <summary>One node of a trace's node list.</summary>
public sealed record TraceNode(string Name, long CpuMillis, long MemoryMib, int GpuCount, string Model)
{
    public NodeState ToState() =>
        new(Name, CpuMillis, MemoryMib, Enumerable.Range(0, GpuCount).Select(i => new GpuDevice(i, $"{Name}-gpu{i}", Model, 0)).ToArray());
}
