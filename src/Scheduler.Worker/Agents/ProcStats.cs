using System.Globalization;

namespace Scheduler.Worker.Agents;

/// <summary>CPU time and resident memory of a process from /proc (Linux); false where unreadable.</summary>
internal static class ProcStats
{
    // USER_HZ is 100 on every Linux ABI .NET runs on.
    private const long ClockTicksPerSecond = 100;

    public static bool TryRead(int pid, out long cpuTimeMs, out long rssMib)
    {
        cpuTimeMs = 0;
        rssMib = 0;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // Fields after the command name, which is in parentheses and may itself contain spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            cpuTimeMs = ticks * 1000 / ClockTicksPerSecond;
            var rssPages = long.Parse(fields[21], CultureInfo.InvariantCulture);
            rssMib = rssPages * Environment.SystemPageSize / (1024 * 1024);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return false;
        }
    }
}
