using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>A manifest that passed <see cref="ManifestValidator"/>: safe paths, bounded sizes, consistent chunks.</summary>
internal sealed record ValidatedManifest(
    CheckpointManifest Manifest,
    byte[] Hash,
    IReadOnlyList<ManifestEntry> Directories,
    IReadOnlyList<ManifestEntry> Files,
    IReadOnlyDictionary<string, int> ChunkLengths,
    IReadOnlyList<string> ChunkOrder,
    long TotalBytes)
{
    public int ChunkSize => (int)Manifest.ChunkSize;
}
