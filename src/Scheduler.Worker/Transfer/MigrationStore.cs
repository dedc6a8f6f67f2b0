using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// What one incoming migration has received, kept as an assembled staging copy of the tree
/// (<c>transfers/&lt;id&gt;/tree</c>) that each round updates in place: a verified chunk is written
/// straight into every file position the manifest names it for, so Commit only renames the tree.
/// Each byte is written once, and a round that changed 5% writes 5%.
/// What every position verifiably holds is tracked in memory, and a position is forgotten before it
/// is overwritten, so a failed write leaves it missing rather than wrong. Only chunks of the current
/// manifest are accepted, and a new manifest removes the files and directories it no longer names,
/// so the tree never holds more than the migration's byte budget.
/// Every write is also recorded in a <see cref="MigrationJournal"/> beside the tree: a store created
/// over a folder that an earlier process left (a restart mid-migration) re-hashes the chunks the
/// journal names and keeps those that match, so the source only sends what is really missing.
/// Page-aligned chunk data is written with O_DIRECT where the file system allows it: the staged tree
/// is read once, at restore, and on this project's VMs filling fresh page-cache pages (about 0.5 GB/s)
/// is much slower than the disk.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The lock is never disposed: a push may still wait on it when the migration is removed, and then finds nothing to write.")]
internal sealed class MigrationStore
{
    private const string TreeName = "tree";
    private const string JournalName = "journal";

    private readonly Lock _lock = new();

    // Writers (Put, on any push stream) share; Prepare, Commit and Delete reshape the tree alone.
    private readonly ReaderWriterLockSlim _reshape = new(LockRecursionPolicy.NoRecursion);
    private readonly Dictionary<string, StagedFile> _files = new(StringComparer.Ordinal);
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FileHandles> _handles = new(StringComparer.Ordinal);
    private Dictionary<string, Position[]> _positions = new(StringComparer.Ordinal);
    private int _chunkSize;
    private ValidatedManifest? _manifest;
    private MigrationJournal? _journal;
    private bool _directUnsupported;

    public MigrationStore(string migrationId, string directory)
    {
        MigrationId = migrationId;
        Directory = directory;
        Tree = Path.Combine(directory, TreeName);
        if (!TryRecover())
        {
            if (System.IO.Directory.Exists(directory))
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }

            _files.Clear();
            _directories.Clear();
            _chunkSize = 0;
            System.IO.Directory.CreateDirectory(Tree);
        }

        _journal = MigrationJournal.Create(JournalPath, _chunkSize, HeldEntries_NeedsReshape());
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

    private string JournalPath => Path.Combine(Directory, JournalName);

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

            List<string> missing;
            lock (_lock)
            {
                _manifest = manifest;
                _chunkSize = manifest.ChunkSize;
                _positions = positions.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
                missing = Missing_NeedsLock();
            }

            RewriteJournal_NeedsReshape();
            return missing;
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
                Write(target.Path, data, target.Offset);
            }

            lock (_lock)
            {
                foreach (var target in targets)
                {
                    _files[target.Path].Chunks[target.Index] = hex;
                }
            }

            var entries = new MigrationJournal.Entry[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                entries[i] = new MigrationJournal.Entry(targets[i].Path, targets[i].Index, data.Length, hex);
            }

            _journal?.Append(entries);
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

            RewriteJournal_NeedsReshape();
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
            Close_NeedsReshape();
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

    /// <summary>Lets go of the folder (files and journal closed) and leaves it as it is, for a later store to recover.</summary>
    public void Close()
    {
        _reshape.EnterWriteLock();
        try
        {
            Close_NeedsReshape();
        }
        finally
        {
            _reshape.ExitWriteLock();
        }
    }

    private void Close_NeedsReshape()
    {
        CloseHandles_NeedsReshape();
        _journal?.Dispose();
        _journal = null;
        lock (_lock)
        {
            _files.Clear();
            _directories.Clear();
            _positions = new(StringComparer.Ordinal);
            _manifest = null;
        }
    }

    /// <summary>
    /// Writes the page-aligned part of <paramref name="data"/> through an O_DIRECT handle when the buffer and
    /// offset allow it, and the rest (a file's unaligned tail, or everything where O_DIRECT is refused) buffered.
    /// </summary>
    private unsafe void Write(string path, ReadOnlySpan<byte> data, long offset)
    {
        var handles = Handles(path);
        var directHandle = handles.Direct;
        fixed (byte* start = data)
        {
            var direct = directHandle is not null && (nuint)start % ChunkBufferPool.Alignment == 0 && offset % ChunkBufferPool.Alignment == 0
                ? data.Length & ~(ChunkBufferPool.Alignment - 1)
                : 0;
            if (direct > 0)
            {
                try
                {
                    RandomAccess.Write(directHandle!, data[..direct], offset);
                    data = data[direct..];
                    offset += direct;
                }
                catch (IOException)
                {
                    // A file system may want larger alignment than a page: write this file buffered from now on.
                    handles.DisableDirect();
                }
            }

            if (data.Length > 0)
            {
                RandomAccess.Write(handles.Buffered, data, offset);
            }
        }
    }

    private FileHandles Handles(string path)
    {
        lock (_lock)
        {
            if (!_handles.TryGetValue(path, out var handles))
            {
                var full = CheckpointUnpacker.Below(Tree, path);
                var direct = _directUnsupported ? null : DirectFile.TryOpenForWrite(full);

                // Refused once (not Linux, or a file system without O_DIRECT such as some FUSE ones): buffered from then on.
                _directUnsupported = direct is null;
                handles = new FileHandles(File.OpenHandle(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite), direct);
                _handles.Add(path, handles);
            }

            return handles;
        }
    }

    private void CloseHandles_NeedsReshape()
    {
        lock (_lock)
        {
            foreach (var handles in _handles.Values)
            {
                handles.Dispose();
            }

            _handles.Clear();
        }
    }

    private void RewriteJournal_NeedsReshape()
    {
        _journal?.Dispose();
        _journal = MigrationJournal.Create(JournalPath, _chunkSize, HeldEntries_NeedsReshape());
    }

    private List<MigrationJournal.Entry> HeldEntries_NeedsReshape()
    {
        lock (_lock)
        {
            var entries = new List<MigrationJournal.Entry>();
            foreach (var (path, file) in _files)
            {
                for (var i = 0; i < file.Chunks.Length; i++)
                {
                    if (file.Chunks[i] is { } hex)
                    {
                        entries.Add(new MigrationJournal.Entry(path, i, ChunkLength(file.Size, i, _chunkSize), hex));
                    }
                }
            }

            return entries;
        }
    }

    /// <summary>
    /// Takes over the folder an earlier store left: its tree's files and directories, and every chunk the
    /// journal names whose bytes still hash to it. False when there is nothing usable to take over.
    /// </summary>
    private bool TryRecover()
    {
        if (!System.IO.Directory.Exists(Tree) || MigrationJournal.Read(JournalPath) is not { } journal)
        {
            return false;
        }

        var (chunkSize, entries) = journal;
        if (chunkSize is not 0 and (< TransferLimits.MinChunkBytes or > TransferLimits.MaxChunkBytes))
        {
            return false;
        }

        var root = new DirectoryInfo(Tree);
        foreach (var info in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var relative = Path.GetRelativePath(root.FullName, info.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (info.LinkTarget is not null)
            {
                // Nothing this store writes is a link: the folder is not what it left, so trust none of it.
                return false;
            }

            if (info is DirectoryInfo)
            {
                _directories.Add(relative);
            }
            else
            {
                var size = ((FileInfo)info).Length;
                _files[relative] = new StagedFile(size, new string?[chunkSize == 0 ? 0 : (int)((size + chunkSize - 1) / chunkSize)]);
            }
        }

        var candidates = entries.Values
            .Where(e => _files.TryGetValue(e.Path, out var file) && e.Index >= 0 && e.Index < file.Chunks.Length && e.Length == ChunkLength(file.Size, e.Index, chunkSize))
            .ToList();
        var verified = new bool[candidates.Count];
        Parallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var entry = candidates[i];
            var buffer = ArrayPool<byte>.Shared.Rent(entry.Length);
            try
            {
                using var handle = File.OpenHandle(CheckpointUnpacker.Below(Tree, entry.Path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var read = 0;
                while (read < entry.Length && RandomAccess.Read(handle, buffer.AsSpan(read, entry.Length - read), ((long)entry.Index * chunkSize) + read) is > 0 and var n)
                {
                    read += n;
                }

                verified[i] = read == entry.Length && ChunkHash.Matches(buffer.AsSpan(0, read), Convert.FromHexString(entry.Hex));
            }
            catch (IOException)
            {
                verified[i] = false;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        });

        for (var i = 0; i < candidates.Count; i++)
        {
            if (verified[i])
            {
                _files[candidates[i].Path].Chunks[candidates[i].Index] = candidates[i].Hex;
            }
        }

        _chunkSize = chunkSize;
        return true;
    }

    private static int ChunkLength(long fileSize, int index, int chunkSize) =>
        (int)Math.Min(chunkSize, fileSize - ((long)index * chunkSize));

    private bool Holds_NeedsLock(string hex, Position[] positions) =>
        positions.All(p => string.Equals(_files[p.Path].Chunks[p.Index], hex, StringComparison.Ordinal));

    private List<string> Missing_NeedsLock() =>
        _manifest is null ? [] : [.. _manifest.ChunkOrder.Where(hex => !Holds_NeedsLock(hex, _positions[hex]))];

    /// <summary>What a staged file holds: its size and, per chunk index, the verified chunk written there (null when unknown).</summary>
    private sealed record StagedFile(long Size, string?[] Chunks);

    private readonly record struct Position(string Path, int Index, long Offset);

    /// <summary>A staged file's write handles: buffered always, O_DIRECT where the file system takes it.</summary>
    private sealed class FileHandles(SafeFileHandle buffered, SafeFileHandle? direct) : IDisposable
    {
        private volatile bool _directFailed;

        public SafeFileHandle Buffered { get; } = buffered;

        /// <summary>Null once a direct write failed: other streams may still be writing through it, so it is closed only with the rest.</summary>
        public SafeFileHandle? Direct => _directFailed ? null : direct;

        public void DisableDirect() => _directFailed = true;

        public void Dispose()
        {
            Buffered.Dispose();
            direct?.Dispose();
        }
    }
}
