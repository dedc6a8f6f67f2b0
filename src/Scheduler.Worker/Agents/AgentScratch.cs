namespace Scheduler.Worker.Agents;

/// <summary>
/// Modes and owners of an agent's folders. Its own folders (agents/JOB/ATTEMPT, work/ in it, and its
/// checkpoint folder) are 0700 and belong to the agent's user, so no other agent can list or read
/// them; the folders above them are 0711, which lets an agent reach its own folder by path without
/// listing which other jobs ran here.
/// </summary>
internal static class AgentScratch
{
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public const UnixFileMode PassThrough = Private | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>A folder above agents' own ones (agents/, agents/JOB, checkpoints/, ...): reachable, not listable, by agents.</summary>
    public static void CreatePassThrough(string directory)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, PassThrough);
    }

    /// <summary>An agent's own folder: 0700, and its user's when agents run as another user than the worker.</summary>
    public static void CreatePrivate(string directory, AgentUser? user)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, Private);
        if (user is not null)
        {
            Posix.Chown(directory, user.Uid, user.Gid);
        }
    }

    /// <summary>
    /// At a worker's start, before any agent runs: everything agents of an earlier run of this worker
    /// left in its data folder (their folders, checkpoints, restore folders) becomes the worker's
    /// (root's) again. Agents do not outlive their worker (its keeper kills them), but an agent that
    /// ended while the worker was down was never handed back, and the new run's pool hands out the
    /// same ids again. Returns the folders that could not be taken back, with the reason.
    /// </summary>
    public static IReadOnlyList<(string Directory, string Reason)> Reclaim(string dataDir)
    {
        var failed = new List<(string, string)>();
        foreach (var name in new[] { "agents", "checkpoints", "restore" })
        {
            var directory = Path.Combine(dataDir, name);
            if (!Directory.Exists(directory))
            {
                continue;
            }

            try
            {
                GiveTree(directory, AgentUser.Root);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failed.Add((directory, ex.Message));
            }
        }

        return failed;
    }

    /// <summary>
    /// Hands a checkpoint to restore from to the agent's user (files and folders, links not followed),
    /// so the agent can read it whatever modes its source gave the files.
    /// </summary>
    public static void GiveTree(string directory, AgentUser user)
    {
        Posix.Chown(directory, user.Uid, user.Gid);
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false };
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", options))
        {
            Posix.Chown(entry, user.Uid, user.Gid);
        }
    }
}
