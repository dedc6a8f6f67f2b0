using System.Runtime.InteropServices;
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
    /// <summary>Stores <paramref name="source"/> as <paramref name="id"/> in <paramref name="restoreRoot"/>; returns its size in bytes.</summary>
    public static long Keep(string source, string restoreRoot, string id)
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
            bytes = CopyTree(new DirectoryInfo(Path.GetFullPath(source)), partial);
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

    private static long CopyTree(DirectoryInfo from, string to)
    {
        Directory.CreateDirectory(to);
        long bytes = 0;
        foreach (var entry in from.EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is not null)
            {
                throw new IOException($"checkpoint entry '{entry.Name}' is a link; a checkpoint holds regular files and folders only");
            }

            var destination = Path.Combine(to, entry.Name);
            switch (entry)
            {
                case DirectoryInfo directory:
                    bytes += CopyTree(directory, destination);
                    break;
                case FileInfo file when (file.Attributes & (FileAttributes.Device | FileAttributes.ReparsePoint)) == 0:
                    if (Link(file.FullName, destination) != 0)
                    {
                        // Another file system, or links not allowed there: a copy does the same.
                        File.Copy(file.FullName, destination);
                    }

                    bytes += file.Length;
                    break;
                default:
                    throw new IOException($"checkpoint entry '{entry.Name}' is not a regular file");
            }
        }

        return bytes;
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
