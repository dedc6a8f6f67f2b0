namespace Scheduler.Worker.Agents;

/// <summary>Finds the executable a command names, the way a shell would, before anything is forked.</summary>
internal static class CommandResolver
{
    private const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>The full path of an executable file, or null when there is none.</summary>
    public static string? Resolve(string command, string path, string workingDir)
    {
        if (command.Length == 0)
        {
            return null;
        }

        if (command.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(command, workingDir);
            return IsExecutable(full) ? full : null;
        }

        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsExecutable(string file) =>
        File.Exists(file) && (File.GetUnixFileMode(file) & AnyExecute) != 0;
}
