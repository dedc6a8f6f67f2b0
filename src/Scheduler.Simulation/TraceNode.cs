namespace Scheduler.Simulation;

/// <summary>One row of a node list: a host's capacity and its GPUs (all of one model).</summary>
public sealed record TraceNode(string Name, long CpuMillis, long MemoryMib, int GpuCount, string GpuModel);
