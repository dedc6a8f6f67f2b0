using Google.Protobuf;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The chunk hashes of files a sender has already hashed, keyed by path and trusted while the file's
/// size and modification time are unchanged: a pre-copy round then hashes only what changed since
/// the previous one, which keeps hashing out of the final round's downtime.
/// A file is remembered only when its modification time was older than the hashing by
/// <see cref="Settle"/>: a later write then gets a later time even with a coarse filesystem clock,
/// so it cannot hide behind the remembered one.
/// </summary>
internal sealed class ChunkHashCache
{
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _files = new(StringComparer.Ordinal);

    public ByteString[]? Find(string path, long size, DateTime modified, int chunkSize)
    {
        lock (_lock)
        {
            return _files.TryGetValue(path, out var entry) && entry.Size == size && entry.Modified == modified && entry.ChunkSize == chunkSize
                ? entry.Hashes
                : null;
        }
    }

    /// <summary>Remembers a file hashed after <paramref name="hashingStarted"/>; forgets it instead when it was written too recently to be trusted.</summary>
    public void Remember(string path, long size, DateTime modified, int chunkSize, ByteString[] hashes, DateTimeOffset hashingStarted)
    {
        lock (_lock)
        {
            if (modified < hashingStarted.UtcDateTime - Settle)
            {
                _files[path] = new Entry(size, modified, chunkSize, hashes);
            }
            else
            {
                _files.Remove(path);
            }
        }
    }

    /// <summary>Drops the files not seen in the latest manifest, so the cache stays the size of the directory.</summary>
    public void Retain(IReadOnlySet<string> paths)
    {
        lock (_lock)
        {
            foreach (var gone in _files.Keys.Where(p => !paths.Contains(p)).ToList())
            {
                _files.Remove(gone);
            }
        }
    }

    private sealed record Entry(long Size, DateTime Modified, int ChunkSize, ByteString[] Hashes);
}
