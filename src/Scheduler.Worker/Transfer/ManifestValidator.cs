using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Checks a peer's manifest before anything is written: only files and directories, relative paths
/// of plain components (no '.', '..', empty or over-long ones, no backslash or NUL), each declared
/// once and under a declared directory, bounded in count and size, and chunk lists that agree with
/// the sizes. Errors are gRPC statuses whose message names the field.
/// </summary>
internal static class ManifestValidator
{
    public static ValidatedManifest Validate(CheckpointManifest? manifest, TransferLimits limits, long maxBytes)
    {
        if (manifest is null)
        {
            throw Invalid("manifest: required");
        }

        if (manifest.ChunkSize is < TransferLimits.MinChunkBytes or > TransferLimits.MaxChunkBytes)
        {
            throw Invalid($"manifest.chunk_size: {manifest.ChunkSize} is outside {TransferLimits.MinChunkBytes}..{TransferLimits.MaxChunkBytes}");
        }

        if (manifest.Entries.Count > limits.MaxEntries)
        {
            throw Exhausted($"manifest.entries: {manifest.Entries.Count} entries, over the bound of {limits.MaxEntries}");
        }

        var chunkSize = (long)manifest.ChunkSize;
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var directories = new List<ManifestEntry>();
        var files = new List<ManifestEntry>();
        var lengths = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        long total = 0;
        for (var i = 0; i < manifest.Entries.Count; i++)
        {
            var entry = manifest.Entries[i];
            var field = $"manifest.entries[{i}]";
            CheckPath(entry.Path, $"{field}.path", limits);
            if (!paths.Add(entry.Path))
            {
                throw Invalid($"{field}.path: '{entry.Path}' appears twice");
            }

            switch (entry.Type)
            {
                case EntryType.Directory:
                    if (entry.Size != 0 || entry.Chunks.Count != 0)
                    {
                        throw Invalid($"{field}: a directory has no size and no chunks");
                    }

                    directories.Add(entry);
                    break;
                case EntryType.File:
                    if (entry.Size > (ulong)limits.MaxEntryBytes)
                    {
                        throw Exhausted($"{field}.size: {entry.Size} bytes, over the per-entry bound of {limits.MaxEntryBytes}");
                    }

                    total += (long)entry.Size;
                    if (total > maxBytes)
                    {
                        throw Exhausted($"manifest: more than {maxBytes} bytes in total, over this migration's bound");
                    }

                    var expected = ((long)entry.Size + chunkSize - 1) / chunkSize;
                    if (entry.Chunks.Count != expected)
                    {
                        throw Invalid($"{field}.chunks: {entry.Chunks.Count} chunks for {entry.Size} bytes; expected {expected}");
                    }

                    for (var c = 0; c < entry.Chunks.Count; c++)
                    {
                        if (entry.Chunks[c].Length != ChunkHash.Bytes)
                        {
                            throw Invalid($"{field}.chunks[{c}]: a SHA-256 is {ChunkHash.Bytes} bytes, not {entry.Chunks[c].Length}");
                        }

                        var length = (int)Math.Min(chunkSize, (long)entry.Size - (c * chunkSize));
                        var hex = ChunkHash.Hex(entry.Chunks[c]);
                        if (lengths.TryGetValue(hex, out var known))
                        {
                            if (known != length)
                            {
                                throw Invalid($"{field}.chunks[{c}]: the same hash stands for {known} and {length} bytes");
                            }
                        }
                        else
                        {
                            lengths.Add(hex, length);
                            order.Add(hex);
                        }
                    }

                    files.Add(entry);
                    break;
                default:
                    throw Invalid($"{field}.type: {entry.Type} is not allowed; a checkpoint holds only files and directories");
            }
        }

        // Parents checked after all paths are known, so entries may come in any order.
        var directoryPaths = directories.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < manifest.Entries.Count; i++)
        {
            var path = manifest.Entries[i].Path;
            var slash = path.LastIndexOf('/');
            if (slash > 0 && !directoryPaths.Contains(path[..slash]))
            {
                throw Invalid($"manifest.entries[{i}].path: parent '{path[..slash]}' is not a directory entry");
            }
        }

        return new ValidatedManifest(manifest, ManifestBuilder.Hash(manifest), directories, files, lengths, order, total);
    }

    private static void CheckPath(string path, string field, TransferLimits limits)
    {
        if (path.Length == 0)
        {
            throw Invalid($"{field}: empty");
        }

        if (System.Text.Encoding.UTF8.GetByteCount(path) > limits.MaxPathBytes)
        {
            throw Invalid($"{field}: longer than {limits.MaxPathBytes} bytes");
        }

        if (path.StartsWith('/'))
        {
            throw Invalid($"{field}: '{path}' is absolute; paths are relative to the checkpoint");
        }

        if (path.Contains('\\') || path.Contains('\0'))
        {
            throw Invalid($"{field}: '{path}' holds a backslash or NUL");
        }

        var components = path.Split('/');
        if (components.Length > limits.MaxDepth)
        {
            throw Invalid($"{field}: deeper than {limits.MaxDepth} levels");
        }

        foreach (var component in components)
        {
            if (component is "" or "." or "..")
            {
                throw Invalid($"{field}: '{path}' has an empty, '.' or '..' component");
            }

            if (System.Text.Encoding.UTF8.GetByteCount(component) > 255)
            {
                throw Invalid($"{field}: a component of '{path}' is longer than 255 bytes");
            }
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private static RpcException Exhausted(string message) => new(new Status(StatusCode.ResourceExhausted, message));
}
