using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>
/// Where a phase's submits spent their time inside the master, from two scrapes of its /metrics: the
/// calls' time in the master (handler to answer), the loop's lag (oldest event of a batch posted to its
/// view published), scheduling passes, store writes, and the runtime's GC pauses. Set beside the client's latency, it says
/// whether a submit waited in the network and the client or in the master, and there on what.
/// </summary>
internal sealed record MasterTimings(
    PrometheusHistogram Submit, PrometheusHistogram Lag, PrometheusHistogram Pass, PrometheusHistogram StoreWrite, double GcPauseSeconds, double GcCollections)
{
    public static MasterTimings Parse(string scrape) => new(
        PrometheusHistogram.Parse(scrape, "scheduler_submit_duration_seconds"),
        PrometheusHistogram.Parse(scrape, "scheduler_loop_lag_seconds"),
        PrometheusHistogram.Parse(scrape, "scheduler_pass_duration_seconds"),
        PrometheusHistogram.Parse(scrape, "scheduler_store_write_duration_seconds"),
        Counter(scrape, "dotnet_gc_pause_time_seconds_total"),
        Counter(scrape, "dotnet_gc_collections_total"));

    /// <summary>What was observed after <paramref name="earlier"/>.</summary>
    public MasterTimings Since(MasterTimings earlier) => new(
        Submit.Since(earlier.Submit), Lag.Since(earlier.Lag), Pass.Since(earlier.Pass), StoreWrite.Since(earlier.StoreWrite),
        GcPauseSeconds - earlier.GcPauseSeconds, GcCollections - earlier.GcCollections);

    /// <summary>A counter's value summed over its labels; 0 when the scrape lacks it.</summary>
    private static double Counter(string scrape, string name)
    {
        var total = 0.0;
        foreach (var raw in scrape.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is ' ' or '{'
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                total += value;
            }
        }

        return total;
    }

    /// <summary>One line: counts, means, and the bucket bound of each p99 (an upper estimate).</summary>
    public override string ToString() =>
        $"in the master: calls {Ms(Submit.Mean)} ms mean, p50 <= {Ms(Submit.Quantile(0.5))}, p99 <= {Ms(Submit.Quantile(0.99))} ms ({Submit.Count:F0}); " +
        $"loop lag {Ms(Lag.Mean)} ms mean, p99 <= {Ms(Lag.Quantile(0.99))} ms ({Lag.Count:F0} batches); " +
        $"passes {Pass.Count:F0}, {Ms(Pass.Mean)} ms mean, {Ms(Pass.Sum)} ms in all; " +
        $"store writes {StoreWrite.Count:F0}, {Ms(StoreWrite.Mean)} ms mean, p99 <= {Ms(StoreWrite.Quantile(0.99))} ms, {Ms(StoreWrite.Sum)} ms in all; " +
        $"GC {GcCollections:F0} collections, {Ms(GcPauseSeconds)} ms paused";

    /// <summary>The figures under <paramref name="prefix"/> in the JSON line.</summary>
    public BenchFigures AddTo(BenchFigures figures, string prefix) => figures
        .Add(prefix + "_master_call_p50_ms", Submit.Quantile(0.5) * 1000)
        .Add(prefix + "_master_call_p99_ms", Submit.Quantile(0.99) * 1000)
        .Add(prefix + "_lag_mean_ms", Lag.Mean * 1000)
        .Add(prefix + "_lag_p99_ms", Lag.Quantile(0.99) * 1000)
        .Add(prefix + "_passes", Pass.Count)
        .Add(prefix + "_pass_ms_total", Pass.Sum * 1000)
        .Add(prefix + "_store_writes", StoreWrite.Count)
        .Add(prefix + "_store_write_mean_ms", StoreWrite.Mean * 1000)
        .Add(prefix + "_gc_pause_ms", GcPauseSeconds * 1000);

    private static string Ms(double seconds) => (seconds * 1000).ToString("F1", CultureInfo.InvariantCulture);
}
