using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>The machine's load average (1, 5, 15 minutes) from /proc/loadavg, printed beside figures taken on a shared machine.</summary>
internal readonly record struct LoadAverage(double One, double Five, double Fifteen)
{
    /// <summary>Null where /proc/loadavg cannot be read.</summary>
    public static LoadAverage? Read()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new LoadAverage(
                double.Parse(fields[0], CultureInfo.InvariantCulture),
                double.Parse(fields[1], CultureInfo.InvariantCulture),
                double.Parse(fields[2], CultureInfo.InvariantCulture));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"load average {One:F2} {Five:F2} {Fifteen:F2}");
}
