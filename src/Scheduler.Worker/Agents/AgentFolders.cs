using System.Globalization;

namespace Scheduler.Worker.Agents;

/// <summary>
/// File-system steps of agent folder retention (agents/JOB/ATTEMPT under the data folder). None of
/// them follows a symbolic link, and none throws for a folder that vanished or cannot be touched:
/// retention is housekeeping, retried on the next sweep.
/// </summary>
internal static class AgentFolders
{
    /// <summary>Marks a folder moved aside for deleting; an attempt's folder is a number, so never named so.</summary>
    private const string RetiredMarker = ".retired-";

    public static string RetiredName(string directory) => $"{directory}{RetiredMarker}{Guid.NewGuid():N}";

    /// <summary>A folder a sweep moved aside and could not finish deleting (the worker stopped, a file was busy).</summary>
    public static bool IsRetired(string name) => name.Contains(RetiredMarker, StringComparison.Ordinal);

    /// <summary>The attempt a folder under agents/JOB is named after, if it is one (exactly as the supervisor names it).</summary>
    public static int? ParseAttempt(string name) =>
        int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var attempt)
        && attempt.ToString(CultureInfo.InvariantCulture) == name
            ? attempt
            : null;

    public static bool IsLink(FileSystemInfo info) => info.LinkTarget is not null;

    /// <summary>
    /// When the folder last changed: the newest of its own time and its entries' (the logs, work/, the
    /// fenced marker). A log's time moves with every write, the folder's only when entries come or go.
    /// </summary>
    public static DateTimeOffset LastActivity(DirectoryInfo directory)
    {
        var newest = directory.LastWriteTimeUtc;
        try
        {
            foreach (var entry in directory.EnumerateFileSystemInfos())
            {
                if (entry.LastWriteTimeUtc > newest)
                {
                    newest = entry.LastWriteTimeUtc;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return new DateTimeOffset(newest, TimeSpan.Zero);
    }

    public static void Touch(string directory, DateTimeOffset when)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.SetLastWriteTimeUtc(directory, when.UtcDateTime);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    public static bool TryMove(string from, string to)
    {
        try
        {
            Directory.Move(from, to);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static void TryRemoveEmpty(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not empty (a new attempt's folder, a retired one still being deleted) or already gone.
        }
    }

    /// <summary>Deletes a folder and everything in it; links inside are removed, never followed.</summary>
    public static bool TryDelete(string directory, out string? error)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
            error = null;
            return true;
        }
        catch (DirectoryNotFoundException)
        {
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = ex.Message;
            return false;
        }
    }
}
