namespace Scheduler.Worker.Checkpoints;

/// <summary>A checkpoint marked complete: its files are relative to <see cref="Directory"/>, sorted.</summary>
internal sealed record CheckpointResult(
    long Sequence,
    CheckpointMode Mode,
    string Directory,
    TimeSpan Duration,
    long Bytes,
    IReadOnlyList<string> Files);
