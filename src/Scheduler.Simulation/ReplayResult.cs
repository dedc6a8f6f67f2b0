namespace Scheduler.Simulation;

/// <summary>One policy on one workload, means over the seeds. Percentages are of the cluster's GPU capacity.</summary>
public sealed record ReplayResult(
    string Policy,
    double Alloc100,
    double Alloc130,
    double Frag100,
    double Seconds,
    int Seeds,
    TimeReplayResult? Timed);
