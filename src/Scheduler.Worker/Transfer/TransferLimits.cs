namespace Scheduler.Worker.Transfer;

/// <summary>Bounds a target puts on any manifest, whatever a migration's byte budget allows.</summary>
internal sealed record TransferLimits
{
    public const int MinChunkBytes = 4 * 1024;
    public const int MaxChunkBytes = 4 * 1024 * 1024;

    public int MaxEntries { get; init; } = 100_000;

    public long MaxEntryBytes { get; init; } = 64L << 30;

    public int MaxPathBytes { get; init; } = 4096;

    public int MaxDepth { get; init; } = 64;

    /// <summary>gRPC receive limit: a chunk and its framing, or a manifest of <see cref="MaxEntries"/> entries.</summary>
    public int MaxMessageBytes { get; init; } = 32 * 1024 * 1024;
}
