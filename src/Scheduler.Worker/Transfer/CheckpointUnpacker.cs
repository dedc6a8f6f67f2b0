using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Commits a migration's staging tree (see <see cref="MigrationStore"/>): applies the manifest's
/// modes and renames the tree into the restore root, so the destination appears whole or not at all
/// and the commit costs no copy, whatever the checkpoint's size. A failure leaves the tree in the
/// migration's staging folder, nothing outside it. Every path is checked to stay below its folder.
/// </summary>
internal static class CheckpointUnpacker
{
    private const UnixFileMode Permissions = (UnixFileMode)0x1FF;

    public static CommitResponse Restore(MigrationStore store, ValidatedManifest manifest, string restoreRoot, string destination)
    {
        var root = Path.GetFullPath(restoreRoot);
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, destination);
        if (Path.Exists(final))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"destination: '{destination}' already exists on this worker"));
        }

        if (!OperatingSystem.IsWindows())
        {
            foreach (var file in manifest.Files)
            {
                File.SetUnixFileMode(Below(store.Tree, file.Path), ((UnixFileMode)file.Mode & Permissions) | UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            foreach (var directory in manifest.Directories)
            {
                File.SetUnixFileMode(Below(store.Tree, directory.Path), ((UnixFileMode)directory.Mode & Permissions) | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        try
        {
            store.MoveTreeTo(final);
        }
        catch (IOException) when (Path.Exists(final))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"destination: '{destination}' already exists on this worker"));
        }

        return new CommitResponse { Path = final, Bytes = (ulong)manifest.TotalBytes, Files = (uint)manifest.Files.Count };
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
}
