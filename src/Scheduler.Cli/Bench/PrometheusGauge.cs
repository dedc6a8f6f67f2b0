using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>A gauge or counter read from a Prometheus text scrape, summed over its labels.</summary>
internal static class PrometheusGauge
{
    /// <summary>The sum of every series named exactly <paramref name="name"/>; null when the scrape has none.</summary>
    public static double? Sum(string text, string name)
    {
        double? sum = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length || line[name.Length] is not ('{' or ' '))
            {
                continue;
            }

            // name{labels} value [timestamp]: the value follows the series (labels may hold spaces).
            var afterSeries = line[name.Length] == '{' ? line.IndexOf('}', StringComparison.Ordinal) + 1 : name.Length;
            var fields = line[afterSeries..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (afterSeries > 0 && fields.Length > 0 && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                sum = (sum ?? 0) + value;
            }
        }

        return sum;
    }
}
