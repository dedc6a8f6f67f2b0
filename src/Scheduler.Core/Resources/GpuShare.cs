namespace Scheduler.Core.Resources;

/// <summary>A slice of one GPU held by one job: 1000 milli-GPU for a whole GPU.</summary>
public readonly record struct GpuShare(int Index, int Milli);
