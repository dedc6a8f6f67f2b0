using System.Buffers;
using System.Security.Cryptography;
using Google.Protobuf;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Describes a checkpoint directory as a manifest: every directory and regular file below it, in
/// ordinal path order, each file's content hashed in fixed chunks (in parallel: hashing is the
/// sender's main cost). Symbolic links and special files are refused: a target would refuse them too.
/// </summary>
internal static class ManifestBuilder
{
    /// <summary>Builds the manifest; with a <paramref name="cache"/>, files unchanged since an earlier build are not read again.</summary>
    public static async Task<CheckpointManifest> BuildAsync(
        string directory, int chunkSize, int parallelism, CancellationToken ct, ChunkHashCache? cache = null, TimeProvider? time = null)
    {
        var hashingStarted = (time ?? TimeProvider.System).GetUtcNow();
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, TransferLimits.MinChunkBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkSize, TransferLimits.MaxChunkBytes);
        var root = new DirectoryInfo(directory);
        if (!root.Exists)
        {
            throw new DirectoryNotFoundException($"checkpoint directory {directory} does not exist");
        }

        var manifest = new CheckpointManifest { ChunkSize = (uint)chunkSize };
        var work = new List<(string Path, long Offset, int Length, ManifestEntry Entry, int Index)>();
        var hashed = new List<(FileInfo File, ManifestEntry Entry)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var entries = root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(info => (Info: info, Relative: Path.GetRelativePath(root.FullName, info.FullName).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(e => e.Relative, StringComparer.Ordinal);
        foreach (var (info, relative) in entries)
        {
            if (info.LinkTarget is not null)
            {
                throw new IOException($"{info.FullName} is a symbolic link; a checkpoint holds only files and directories");
            }

            var mode = OperatingSystem.IsWindows() ? 0u : (uint)info.UnixFileMode;
            if (info is DirectoryInfo)
            {
                manifest.Entries.Add(new ManifestEntry { Path = relative, Type = EntryType.Directory, Mode = mode });
                continue;
            }

            var file = (FileInfo)info;
            var entry = new ManifestEntry { Path = relative, Type = EntryType.File, Size = (ulong)file.Length, Mode = mode };
            var count = (int)((file.Length + chunkSize - 1) / chunkSize);
            seen.Add(file.FullName);
            if (cache?.Find(file.FullName, file.Length, file.LastWriteTimeUtc, chunkSize) is { } known)
            {
                entry.Chunks.AddRange(known);
                manifest.Entries.Add(entry);
                continue;
            }

            hashed.Add((file, entry));
            for (var i = 0; i < count; i++)
            {
                entry.Chunks.Add(ByteString.Empty);
                var offset = (long)i * chunkSize;
                work.Add((file.FullName, offset, (int)Math.Min(chunkSize, file.Length - offset), entry, i));
            }

            manifest.Entries.Add(entry);
        }

        await Parallel.ForEachAsync(
            work,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = ct },
            async (item, token) =>
            {
                var buffer = ArrayPool<byte>.Shared.Rent(item.Length);
                try
                {
                    using (var handle = File.OpenHandle(item.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous))
                    {
                        await ReadExactlyAsync(handle, buffer.AsMemory(0, item.Length), item.Offset, token);
                    }

                    var hash = SHA256.HashData(buffer.AsSpan(0, item.Length));

                    // Each work item owns its slot, so no lock: the list was sized before the loop.
                    item.Entry.Chunks[item.Index] = UnsafeByteOperations.UnsafeWrap(hash);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            });

        if (cache is not null)
        {
            foreach (var (file, entry) in hashed)
            {
                cache.Remember(file.FullName, file.Length, file.LastWriteTimeUtc, chunkSize, [.. entry.Chunks], hashingStarted);
            }

            cache.Retain(seen);
        }

        return manifest;
    }

    /// <summary>The "whole" hash: SHA-256 of the manifest's protobuf encoding (deterministic: no maps).</summary>
    public static byte[] Hash(CheckpointManifest manifest) => SHA256.HashData(manifest.ToByteArray());

    internal static async ValueTask ReadExactlyAsync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Memory<byte> buffer, long offset, CancellationToken ct)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var read = await RandomAccess.ReadAsync(handle, buffer[done..], offset + done, ct);
            if (read == 0)
            {
                throw new IOException("the file became shorter while it was read; was the checkpoint still being written?");
            }

            done += read;
        }
    }
}
