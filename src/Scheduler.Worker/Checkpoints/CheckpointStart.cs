namespace Scheduler.Worker.Checkpoints;

/// <summary>
/// Starts an agent as checkpointable; with <paramref name="RestoreDir"/> it resumes from that complete
/// checkpoint, which <paramref name="Origin"/> names in a refusal (e.g. "migration m-1").
/// </summary>
internal sealed record CheckpointStart(string? RestoreDir = null, string? Origin = null);
