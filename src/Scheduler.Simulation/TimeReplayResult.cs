namespace Scheduler.Simulation;

/// <summary>Replay in time: queueing delay (seconds from creation to placement) of tasks that were placed.</summary>
public sealed record TimeReplayResult(int Tasks, int Placed, int NeverPlaced, double MeanDelaySeconds, double P95DelaySeconds, double MaxDelaySeconds);
