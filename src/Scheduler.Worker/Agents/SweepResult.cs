namespace Scheduler.Worker.Agents;

/// <summary>What one pass of <see cref="AgentLogSweeper"/> did: log files rotated, agent folders deleted.</summary>
internal readonly record struct SweepResult(int Rotated, int Deleted);
