namespace Scheduler.Worker.Agents;

/// <summary>
/// Copy-truncate rotation of a log file that a live process keeps open for appending. The agent's
/// shell opened stdout.log with <c>&gt;&gt;</c> (O_APPEND), and the worker cannot make it reopen a
/// renamed file, so the newest part is copied aside to <c>NAME.1</c> and the live file is
/// truncated in place: every write after the truncate lands at the new end, without a hole.
/// </summary>
/// <remarks>
/// As with logrotate's copytruncate, bytes the agent writes after the copy has read the end of the
/// file and before the truncate are lost. The copy keeps reading until a read finds nothing more and
/// truncates straight after, so that window is one system call wide, not the length of the copy;
/// POSIX has no call that truncates only what was read, so it cannot be closed from outside the writer.
/// </remarks>
internal static class LogRotation
{
    public const string RotatedSuffix = ".1";

    /// <summary>
    /// Rotates <paramref name="path"/> when it holds more than <paramref name="maxBytes"/>: its newest
    /// <paramref name="maxBytes"/> (and whatever arrives during the copy) replace NAME.1, and the live
    /// file is truncated to zero. Returns whether it rotated.
    /// </summary>
    public static bool RotateIfLarger(string path, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        var rotated = path + RotatedSuffix;
        var temp = rotated + ".tmp";
        using (var live = OpenLive(path))
        {
            if (live is null || live.Length <= maxBytes)
            {
                return false;
            }

            using (var copy = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                live.Position = live.Length - maxBytes;

                // CopyTo reads until a read returns nothing, so what the agent appended meanwhile is
                // copied too, and the truncate follows the last read directly.
                live.CopyTo(copy, 81920);
                live.SetLength(0);
            }
        }

        // Only after the truncate, so the window above stays one call wide; for that moment a reader
        // finds the rotated bytes in neither file, which a later read mends.
        File.Move(temp, rotated, overwrite: true);
        return true;
    }

    private static FileStream? OpenLive(string path)
    {
        try
        {
            // Unbuffered: every read goes to the file, so the copy ends at its real end.
            return new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }
}
