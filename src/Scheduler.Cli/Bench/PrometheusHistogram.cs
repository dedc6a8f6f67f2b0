using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>
/// One histogram read from a Prometheus text scrape (its cumulative buckets, sum and count); two
/// scrapes give the observations made between them.
/// </summary>
internal sealed record PrometheusHistogram(IReadOnlyList<(double UpperBound, double Count)> Buckets, double Sum, double Count)
{
    /// <summary>
    /// True when the later scrape counted fewer observations than the earlier (the series started again:
    /// the master restarted or made its instruments anew): <see cref="Since"/> then holds only what was
    /// observed after the restart, as Prometheus' rate() reads a reset, so it covers less than the window.
    /// </summary>
    public bool Restarted { get; init; }

    public static readonly PrometheusHistogram Empty = new([], 0, 0);

    /// <summary>The series of <paramref name="name"/> (e.g. scheduler_loop_lag_seconds) summed over its labels.</summary>
    public static PrometheusHistogram Parse(string text, string name)
    {
        var buckets = new SortedDictionary<double, double>();
        double sum = 0, count = 0;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            if (space < 0 || !double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            var series = line[..space];
            if (series.StartsWith(name + "_bucket", StringComparison.Ordinal))
            {
                var le = series.IndexOf("le=\"", StringComparison.Ordinal);
                if (le < 0)
                {
                    continue;
                }

                var bound = series[(le + 4)..series.IndexOf('"', le + 4)];
                var upper = bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);
                buckets[upper] = buckets.GetValueOrDefault(upper) + value;
            }
            else if (series.StartsWith(name + "_sum", StringComparison.Ordinal))
            {
                sum += value;
            }
            else if (series.StartsWith(name + "_count", StringComparison.Ordinal))
            {
                count += value;
            }
        }

        return new PrometheusHistogram(buckets.Select(b => (b.Key, b.Value)).ToArray(), sum, count);
    }

    /// <summary>The observations made after <paramref name="earlier"/> (after the restart, where the series started again).</summary>
    public PrometheusHistogram Since(PrometheusHistogram earlier) => Count < earlier.Count
        ? this with { Restarted = true }
        : new(
            Buckets.Select(b => (b.UpperBound, b.Count - earlier.Buckets.FirstOrDefault(e => e.UpperBound == b.UpperBound).Count)).ToArray(),
            Sum - earlier.Sum,
            Count - earlier.Count);

    public double Mean => Count > 0 ? Sum / Count : 0;

    /// <summary>The upper bound of the bucket holding the <paramref name="p"/> quantile (an upper estimate); 0 without observations.</summary>
    public double Quantile(double p)
    {
        if (Count <= 0)
        {
            return 0;
        }

        var rank = p * Count;
        foreach (var (upper, cumulative) in Buckets)
        {
            if (cumulative >= rank)
            {
                return double.IsPositiveInfinity(upper) ? Buckets.Where(b => !double.IsPositiveInfinity(b.UpperBound)).Select(b => b.UpperBound).DefaultIfEmpty(0).Max() : upper;
            }
        }

        return 0;
    }
}
