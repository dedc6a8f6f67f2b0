using System.Runtime.InteropServices;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>
/// Keeps a final checkpoint on this worker without a transfer: its files are hard-linked (copied
/// where a link is impossible) into a hidden folder of the restore root, which is then renamed to
/// the checkpoint's id, so it appears whole or not at all. Only for a final checkpoint: the agent
/// writes nothing after it, so the linked files cannot change. Links, devices and other special
/// entries are refused, as the transfer refuses them.
/// </summary>
internal static partial class LocalCheckpointCopy
{
    /// <summary>Stores <paramref name="files"/> (relative to <paramref name="source"/>) as <paramref name="id"/> in <paramref name="restoreRoot"/>; returns their size in bytes.</summary>
    public static long Keep(string source, IReadOnlyList<string> files, string restoreRoot, string id)
    {
        MigrationIds.Check(id);
        var root = Path.GetFullPath(restoreRoot);
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, id);
        if (Path.Exists(final))
        {
            throw new IOException($"checkpoint {id} is already stored on this worker");
        }

        var partial = Path.Combine(root, $".partial-{id}-{Guid.NewGuid():N}");
        long bytes = 0;
        try
        {
            bytes = CopyFiles(Path.GetFullPath(source), files, partial);
            Directory.Move(partial, final);
            return bytes;
        }
        catch
        {
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }

            throw;
        }
    }

    /// <summary>Links (or copies) the checkpoint's own files, the ones a transfer would send: protocol and scratch files (dot names) stay behind.</summary>
    private static long CopyFiles(string source, IReadOnlyList<string> files, string to)
    {
        Directory.CreateDirectory(to);
        long bytes = 0;
        foreach (var relative in files.Where(CheckpointContract.IsCheckpointFile))
        {
            var from = new FileInfo(Path.Combine(source, relative));
            if (from.LinkTarget is not null || (from.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) != 0 || !from.Exists)
            {
                throw new IOException($"checkpoint entry '{relative}' is not a regular file");
            }

            var destination = Path.GetFullPath(Path.Combine(to, relative));
            if (!destination.StartsWith(to + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new IOException($"checkpoint entry '{relative}' escapes the checkpoint");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            if (Link(from.FullName, destination) != 0)
            {
                // Another file system, or links not allowed there: a copy does the same.
                File.Copy(from.FullName, destination);
            }

            bytes += from.Length;
        }

        return bytes;
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
