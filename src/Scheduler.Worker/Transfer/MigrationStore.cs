using Microsoft.Win32.SafeHandles;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The chunks one incoming migration has received, content-addressed: a file per chunk named by its
/// SHA-256, written under a temporary name and renamed once verified, so a chunk file always holds
/// what its name says. Only chunks of the current manifest are accepted, and a new manifest drops
/// the ones it no longer names, so the store never holds more than the migration's byte budget.
/// </summary>
internal sealed class MigrationStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _held = new(StringComparer.Ordinal);
    private ValidatedManifest? _manifest;

    public MigrationStore(string migrationId, string directory)
    {
        MigrationId = migrationId;
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);

        // What an earlier process of this worker stored stays valid: only verified chunks get their name.
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles())
        {
            if (ChunkHash.IsHexName(file.Name) && file.Length <= TransferLimits.MaxChunkBytes)
            {
                _held[file.Name] = (int)file.Length;
            }
            else
            {
                file.Delete();
            }
        }
    }

    public string MigrationId { get; }

    public string Directory { get; }

    /// <summary>Serialises Prepare and Commit: a new manifest must not drop chunks a commit is reading.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public int HeldCount
    {
        get
        {
            lock (_lock)
            {
                return _held.Count;
            }
        }
    }

    public ValidatedManifest? Manifest
    {
        get
        {
            lock (_lock)
            {
                return _manifest;
            }
        }
    }

    /// <summary>Installs the round's manifest (call under <see cref="Gate"/>) and answers which chunks are still missing.</summary>
    public IReadOnlyList<string> Prepare(ValidatedManifest manifest)
    {
        List<string> stale;
        List<string> missing;
        lock (_lock)
        {
            _manifest = manifest;
            stale = [.. _held.Keys.Where(hex => !manifest.ChunkLengths.ContainsKey(hex))];
            foreach (var hex in stale)
            {
                _held.Remove(hex);
            }

            missing = Missing_NeedsLock();
        }

        foreach (var hex in stale)
        {
            File.Delete(Path.Combine(Directory, hex));
        }

        return missing;
    }

    public IReadOnlyList<string> Missing()
    {
        lock (_lock)
        {
            return Missing_NeedsLock();
        }
    }

    /// <summary>The length the current manifest expects for this chunk, or null when it names no such chunk.</summary>
    public int? ExpectedLength(string hex)
    {
        lock (_lock)
        {
            return _manifest is { } manifest && manifest.ChunkLengths.TryGetValue(hex, out var length) ? length : null;
        }
    }

    public bool Holds(string hex)
    {
        lock (_lock)
        {
            return _held.ContainsKey(hex);
        }
    }

    /// <summary>Stores a chunk the caller has verified against <paramref name="hex"/>.</summary>
    public void Put(string hex, ReadOnlySpan<byte> data)
    {
        if (Holds(hex))
        {
            return;
        }

        var final = Path.Combine(Directory, hex);
        var part = $"{final}.{Guid.NewGuid():N}.part";
        using (var handle = File.OpenHandle(part, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, data.Length))
        {
            RandomAccess.Write(handle, data, 0);
        }

        File.Move(part, final, overwrite: true);
        lock (_lock)
        {
            _held[hex] = data.Length;
        }
    }

    public SafeFileHandle OpenChunk(string hex) => File.OpenHandle(Path.Combine(Directory, hex), FileMode.Open, FileAccess.Read);

    public void Delete()
    {
        lock (_lock)
        {
            _held.Clear();
            _manifest = null;
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private List<string> Missing_NeedsLock() =>
        _manifest is null ? [] : [.. _manifest.ChunkOrder.Where(hex => !_held.ContainsKey(hex))];
}
