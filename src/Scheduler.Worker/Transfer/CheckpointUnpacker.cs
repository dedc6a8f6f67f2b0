using System.Buffers;
using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Rebuilds a validated manifest from a migration's store into a fresh hidden folder inside the
/// restore root, then renames it into place: the destination appears whole or not at all, and a
/// failure removes the folder. Only directories and regular files are created (CreateNew, so
/// nothing is followed or overwritten), and every path is checked again to stay below the folder.
/// </summary>
internal static class CheckpointUnpacker
{
    private const UnixFileMode Permissions = (UnixFileMode)0x1FF;

    public static async Task<CommitResponse> RestoreAsync(
        MigrationStore store, ValidatedManifest manifest, string restoreRoot, string destination, CancellationToken ct)
    {
        var root = Path.GetFullPath(restoreRoot);
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, destination);
        if (Path.Exists(final))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"destination: '{destination}' already exists on this worker"));
        }

        var staging = Path.Combine(root, $".incoming-{store.MigrationId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            foreach (var directory in manifest.Directories.OrderBy(d => d.Path.Length))
            {
                Directory.CreateDirectory(Below(staging, directory.Path));
            }

            await Parallel.ForEachAsync(
                manifest.Files,
                new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
                (file, token) => WriteFileAsync(store, manifest.ChunkSize, file, Below(staging, file.Path), token));

            if (!OperatingSystem.IsWindows())
            {
                foreach (var file in manifest.Files)
                {
                    File.SetUnixFileMode(Below(staging, file.Path), ((UnixFileMode)file.Mode & Permissions) | UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                foreach (var directory in manifest.Directories)
                {
                    File.SetUnixFileMode(Below(staging, directory.Path), ((UnixFileMode)directory.Mode & Permissions) | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }

            try
            {
                Directory.Move(staging, final);
            }
            catch (IOException) when (Path.Exists(final))
            {
                throw new RpcException(new Status(StatusCode.AlreadyExists, $"destination: '{destination}' already exists on this worker"));
            }

            return new CommitResponse { Path = final, Bytes = (ulong)manifest.TotalBytes, Files = (uint)manifest.Files.Count };
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
    }

    /// <summary>The full path of <paramref name="relative"/> below <paramref name="folder"/>; refuses one that normalises outside it.</summary>
    internal static string Below(string folder, string relative)
    {
        var full = Path.GetFullPath(Path.Combine(folder, relative));
        if (!full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"manifest: '{relative}' escapes the destination"));
        }

        return full;
    }

    private static async ValueTask WriteFileAsync(MigrationStore store, int chunkSize, ManifestEntry file, string path, CancellationToken ct)
    {
        using var output = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous, (long)file.Size);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            long offset = 0;
            foreach (var hash in file.Chunks)
            {
                var length = (int)Math.Min(chunkSize, (long)file.Size - offset);
                using (var chunk = store.OpenChunk(ChunkHash.Hex(hash)))
                {
                    if (RandomAccess.GetLength(chunk) != length)
                    {
                        throw new RpcException(new Status(StatusCode.DataLoss, $"chunk {ChunkHash.Hex(hash)}: stored with the wrong length"));
                    }

                    await ManifestBuilder.ReadExactlyAsync(chunk, buffer.AsMemory(0, length), 0, ct);
                }

                await RandomAccess.WriteAsync(output, buffer.AsMemory(0, length), offset, ct);
                offset += length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
