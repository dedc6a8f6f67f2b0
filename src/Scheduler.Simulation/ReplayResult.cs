namespace Scheduler.Simulation;

/// <summary>
/// One seed of the paper's protocol. Allocation and fragmentation are percentages of the cluster's
/// GPU capacity; <see cref="Frag100"/> is measured when arrived demand reaches 100%.
/// </summary>
public readonly record struct ReplayResult(double Alloc100, double Alloc130, double Frag100, int Tasks, int Placed);
