namespace Scheduler.Worker.Transfer;

/// <summary>What one <see cref="CheckpointSender"/> round did: distinct chunks in the manifest, those sent (resends included), and where the time went.</summary>
public sealed record TransferStats(
    int ChunksTotal,
    int ChunksSent,
    long BytesTotal,
    long BytesSent,
    int PushAttempts,
    TimeSpan ManifestTime,
    TimeSpan PushTime,
    TimeSpan CommitTime,
    TimeSpan Duration,
    string? RestoredPath);
