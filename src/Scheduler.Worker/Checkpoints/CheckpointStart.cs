namespace Scheduler.Worker.Checkpoints;

/// <summary>Starts an agent as checkpointable; with <paramref name="RestoreDir"/> it resumes from that complete checkpoint.</summary>
internal sealed record CheckpointStart(string? RestoreDir = null);
