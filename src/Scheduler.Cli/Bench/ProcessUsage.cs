using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>
/// CPU time and resident memory of a process, read from /proc/PID/stat and /proc/PID/status (Linux);
/// two readings give the CPU it used between them, in cores.
/// </summary>
internal readonly record struct ProcessUsage(long CpuTicks, long RssBytes, long At)
{
    // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
    private const double TicksPerSecond = 100;

    /// <summary>Null when the process is gone or /proc is not there.</summary>
    public static ProcessUsage? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");

            // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            var rssKib = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status")
                .Where(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
                .Select(l => long.Parse(l["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture))
                .FirstOrDefault();
            return new ProcessUsage(ticks, rssKib * 1024, System.Diagnostics.Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Cores used on average from <paramref name="earlier"/> to this reading (1.0 = one core busy).</summary>
    public double CoresSince(ProcessUsage earlier)
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(earlier.At, At).TotalSeconds;
        return seconds <= 0 ? 0 : (CpuTicks - earlier.CpuTicks) / TicksPerSecond / seconds;
    }
}
