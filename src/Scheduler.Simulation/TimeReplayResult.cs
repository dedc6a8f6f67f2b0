namespace Scheduler.Simulation;

/// <summary>
/// A replay in time: how long tasks waited between creation and start, in seconds, over the tasks
/// that started. <see cref="NeverStarted"/> counts tasks still queued when the trace ran out of
/// departures, including those no idle node could ever hold.
/// </summary>
public readonly record struct TimeReplayResult(int Tasks, int Started, int Delayed, int NeverStarted, double MeanDelaySeconds, double P95DelaySeconds);
