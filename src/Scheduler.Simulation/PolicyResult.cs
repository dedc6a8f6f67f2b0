namespace Scheduler.Simulation;

/// <summary>
/// One policy on one workload: means over the seeds of the allocation protocol (percent of GPU
/// capacity), the time replay when the trace has times, and the wall time of the whole evaluation.
/// </summary>
public sealed record PolicyResult(
    string Policy,
    double Alloc100,
    double Alloc130,
    double Frag100,
    IReadOnlyList<ReplayResult> PerSeed,
    TimeReplayResult? Time,
    double Seconds);
