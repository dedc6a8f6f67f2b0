using Microsoft.Win32.SafeHandles;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// What one incoming migration has received, kept as an assembled staging copy of the tree
/// (<c>transfers/&lt;id&gt;/tree</c>) that each round updates in place: a verified chunk is written
/// straight into every file position the manifest names it for, so Commit only renames the tree.
/// Each byte crosses the page cache once, and a round that changed 5% writes 5%.
/// What every position verifiably holds is tracked in memory, and a position is forgotten before it
/// is overwritten, so a failed write leaves it missing rather than wrong. Only chunks of the current
/// manifest are accepted, and a new manifest removes the files and directories it no longer names,
/// so the tree never holds more than the migration's byte budget.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The lock is never disposed: a push may still wait on it when the migration is removed, and then finds nothing to write.")]
internal sealed class MigrationStore
{
    private const string TreeName = "tree";

    private readonly Lock _lock = new();

    // Writers (Put, on any push stream) share; Prepare, Commit and Delete reshape the tree alone.
    private readonly ReaderWriterLockSlim _reshape = new(LockRecursionPolicy.NoRecursion);
    private readonly Dictionary<string, StagedFile> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SafeFileHandle> _handles = new(StringComparer.Ordinal);
    private Dictionary<string, Position[]> _positions = new(StringComparer.Ordinal);
    private int _chunkSize;
    private ValidatedManifest? _manifest;

    public MigrationStore(string migrationId, string directory)
    {
        MigrationId = migrationId;
        Directory = directory;
        Tree = Path.Combine(directory, TreeName);

        // What an earlier process left is not known to be verified: start from an empty tree.
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }

        System.IO.Directory.CreateDirectory(Tree);
    }

    public string MigrationId { get; }

    public string Directory { get; }

    /// <summary>The staging copy of the tree: the current manifest's directories and files, complete once nothing is missing.</summary>
    public string Tree { get; }

    /// <summary>Serialises Prepare and Commit: a new manifest must not reshape the tree a commit is renaming.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>Distinct chunks of the current manifest that are in place everywhere the manifest names them.</summary>
    public int HeldCount
    {
        get
        {
            lock (_lock)
            {
                return _positions.Count(p => Holds_NeedsLock(p.Key, p.Value));
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

    /// <summary>
    /// Installs the round's manifest (call under <see cref="Gate"/>): removes what it no longer names,
    /// creates its directories and sizes its files, keeps every position whose chunk is unchanged,
    /// and answers which chunks are still missing.
    /// </summary>
    public IReadOnlyList<string> Prepare(ValidatedManifest manifest)
    {
        _reshape.EnterWriteLock();
        try
        {
            CloseHandles_NeedsReshape();
            if (manifest.ChunkSize != _chunkSize)
            {
                // Positions of another chunk size say nothing about this manifest's chunks.
                foreach (var file in _files.Values)
                {
                    Array.Clear(file.Chunks);
                }
            }

            var files = manifest.Files.ToDictionary(f => f.Path, StringComparer.Ordinal);
            var directories = manifest.Directories.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
            foreach (var stale in _files.Keys.Where(p => !files.ContainsKey(p)).ToList())
            {
                File.Delete(CheckpointUnpacker.Below(Tree, stale));
                _files.Remove(stale);
            }

            // Deepest first; none of a stale directory's descendants is in the manifest (every entry's parent is declared).
            foreach (var stale in _directories.Where(d => !directories.Contains(d)).OrderByDescending(d => d.Length).ToList())
            {
                var full = CheckpointUnpacker.Below(Tree, stale);
                if (System.IO.Directory.Exists(full))
                {
                    System.IO.Directory.Delete(full, recursive: true);
                }

                _directories.Remove(stale);
            }

            foreach (var directory in manifest.Directories.OrderBy(d => d.Path.Length))
            {
                System.IO.Directory.CreateDirectory(CheckpointUnpacker.Below(Tree, directory.Path));
                _directories.Add(directory.Path);
            }

            var positions = new Dictionary<string, List<Position>>(StringComparer.Ordinal);
            foreach (var file in manifest.Files)
            {
                var size = (long)file.Size;
                var chunks = new string?[file.Chunks.Count];
                using (var handle = File.OpenHandle(CheckpointUnpacker.Below(Tree, file.Path), FileMode.OpenOrCreate, FileAccess.ReadWrite))
                {
                    if (RandomAccess.GetLength(handle) != size)
                    {
                        RandomAccess.SetLength(handle, size);
                    }
                }

                if (_files.TryGetValue(file.Path, out var old))
                {
                    // A resize changes the chunk that holds the old end; the ones before it are untouched.
                    var kept = old.Size == size ? chunks.Length : (int)(Math.Min(old.Size, size) / manifest.ChunkSize);
                    Array.Copy(old.Chunks, chunks, Math.Min(kept, Math.Min(old.Chunks.Length, chunks.Length)));
                }

                _files[file.Path] = new StagedFile(size, chunks);
                for (var i = 0; i < file.Chunks.Count; i++)
                {
                    var hex = ChunkHash.Hex(file.Chunks[i].Span);
                    if (!positions.TryGetValue(hex, out var list))
                    {
                        positions[hex] = list = [];
                    }

                    list.Add(new Position(file.Path, i, (long)i * manifest.ChunkSize));
                }
            }

            lock (_lock)
            {
                _manifest = manifest;
                _chunkSize = manifest.ChunkSize;
                _positions = positions.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
                return Missing_NeedsLock();
            }
        }
        finally
        {
            _reshape.ExitWriteLock();
        }
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
            return _positions.TryGetValue(hex, out var positions) && Holds_NeedsLock(hex, positions);
        }
    }

    /// <summary>Writes a chunk the caller has verified against <paramref name="hex"/> into every position that does not hold it yet.</summary>
    public void Put(string hex, ReadOnlySpan<byte> data)
    {
        _reshape.EnterReadLock();
        try
        {
            Position[] targets;
            lock (_lock)
            {
                if (!_positions.TryGetValue(hex, out var positions))
                {
                    return;
                }

                targets = [.. positions.Where(p => !string.Equals(_files[p.Path].Chunks[p.Index], hex, StringComparison.Ordinal))];
                foreach (var target in targets)
                {
                    _files[target.Path].Chunks[target.Index] = null;
                }
            }

            foreach (var target in targets)
            {
                RandomAccess.Write(Handle(target.Path), data, target.Offset);
            }

            lock (_lock)
            {
                foreach (var target in targets)
                {
                    _files[target.Path].Chunks[target.Index] = hex;
                }
            }
        }
        finally
        {
            _reshape.ExitReadLock();
        }
    }

    /// <summary>Moves the complete tree to <paramref name="final"/> (call under <see cref="Gate"/>, with nothing missing); the store is empty afterwards.</summary>
    public void MoveTreeTo(string final)
    {
        _reshape.EnterWriteLock();
        try
        {
            CloseHandles_NeedsReshape();
            System.IO.Directory.Move(Tree, final);
            lock (_lock)
            {
                _files.Clear();
                _directories.Clear();
                _positions = new(StringComparer.Ordinal);
                _manifest = null;
            }
        }
        finally
        {
            _reshape.ExitWriteLock();
        }
    }

    public void Delete()
    {
        _reshape.EnterWriteLock();
        try
        {
            CloseHandles_NeedsReshape();
            lock (_lock)
            {
                _files.Clear();
                _directories.Clear();
                _positions = new(StringComparer.Ordinal);
                _manifest = null;
            }

            if (System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
        }
        finally
        {
            _reshape.ExitWriteLock();
        }
    }

    private SafeFileHandle Handle(string path)
    {
        lock (_lock)
        {
            if (!_handles.TryGetValue(path, out var handle))
            {
                handle = File.OpenHandle(CheckpointUnpacker.Below(Tree, path), FileMode.Open, FileAccess.Write, FileShare.Read);
                _handles.Add(path, handle);
            }

            return handle;
        }
    }

    private void CloseHandles_NeedsReshape()
    {
        lock (_lock)
        {
            foreach (var handle in _handles.Values)
            {
                handle.Dispose();
            }

            _handles.Clear();
        }
    }

    private bool Holds_NeedsLock(string hex, Position[] positions) =>
        positions.All(p => string.Equals(_files[p.Path].Chunks[p.Index], hex, StringComparison.Ordinal));

    private List<string> Missing_NeedsLock() =>
        _manifest is null ? [] : [.. _manifest.ChunkOrder.Where(hex => !Holds_NeedsLock(hex, _positions[hex]))];

    /// <summary>What a staged file holds: its size and, per chunk index, the verified chunk written there (null when unknown).</summary>
    private sealed record StagedFile(long Size, string?[] Chunks);

    private readonly record struct Position(string Path, int Index, long Offset);
}
