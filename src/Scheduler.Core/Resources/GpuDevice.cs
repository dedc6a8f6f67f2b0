namespace Scheduler.Core.Resources;

/// <summary>A physical GPU of a node, as its worker's probe reported it.</summary>
public readonly record struct GpuDevice(int Index, string Uuid, string Model, long MemoryMib);
