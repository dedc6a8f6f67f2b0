namespace Scheduler.Worker.Transfer;

/// <summary>How a source sends a checkpoint.</summary>
public sealed record CheckpointSenderOptions
{
    public int ChunkSize { get; init; } = 1024 * 1024;

    /// <summary>Push streams in flight at once; the target verifies each stream's chunks on its own thread.</summary>
    public int Streams { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>Push rounds before giving up (a broken stream or a rejected chunk costs one).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Threads hashing the directory into a manifest.</summary>
    public int HashParallelism { get; init; } = Environment.ProcessorCount;
}
