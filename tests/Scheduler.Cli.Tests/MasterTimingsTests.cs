using Scheduler.Cli.Bench;

namespace Scheduler.Cli.Tests;

/// <summary>The bench's reading of the master's /metrics: what a phase added to each histogram and counter.</summary>
[TestFixture]
public sealed class MasterTimingsTests
{
    [Test]
    public void A_phase_counts_only_what_was_observed_between_its_two_scrapes()
    {
        var before = MasterTimings.Parse(Scrape(submits: 10, submitSum: 0.5, gcPause: 1.25, gcCollections: 3));
        var after = MasterTimings.Parse(Scrape(submits: 30, submitSum: 1.5, gcPause: 1.5, gcCollections: 5));

        var phase = after.Since(before);

        Assert.That(phase.Submit.Count, Is.EqualTo(20));
        Assert.That(phase.Submit.Mean, Is.EqualTo(0.05).Within(1e-9), "1.0 s over 20 calls");
        Assert.That(phase.GcPauseSeconds, Is.EqualTo(0.25).Within(1e-9));
        Assert.That(phase.GcCollections, Is.EqualTo(2), "summed over the generations' labels");
        Assert.That(phase.StoreWrite.Count, Is.Zero, "a series the scrape lacks reads as nothing observed");
    }

    [Test]
    public void A_histogram_that_started_again_in_the_window_counts_what_came_after_and_says_so()
    {
        var before = MasterTimings.Parse(Scrape(submits: 30, submitSum: 1.5, gcPause: 1, gcCollections: 2));
        var after = MasterTimings.Parse(Scrape(submits: 8, submitSum: 0.4, gcPause: 1, gcCollections: 2));

        var phase = after.Since(before).Submit;

        Assert.That((phase.Restarted, phase.Count), Is.EqualTo((true, 8)), "not a negative count: the 8 observed since the restart");
        Assert.That(phase.Mean, Is.EqualTo(0.05).Within(1e-9));
        Assert.That(after.Since(after).Submit.Restarted, Is.False);
    }

    private static string Scrape(int submits, double submitSum, double gcPause, double gcCollections) => string.Join('\n',
        "# TYPE scheduler_submit_duration_seconds histogram",
        $"scheduler_submit_duration_seconds_bucket{{call=\"submit\",le=\"0.05\"}} {submits / 2}",
        $"scheduler_submit_duration_seconds_bucket{{call=\"submit\",le=\"+Inf\"}} {submits}",
        $"scheduler_submit_duration_seconds_sum{{call=\"submit\"}} {submitSum.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        $"scheduler_submit_duration_seconds_count{{call=\"submit\"}} {submits}",
        $"dotnet_gc_pause_time_seconds_total {gcPause.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        $"dotnet_gc_collections_total{{gc_heap_generation=\"gen0\"}} {(gcCollections - 1).ToString(System.Globalization.CultureInfo.InvariantCulture)}",
        "dotnet_gc_collections_total{gc_heap_generation=\"gen2\"} 1",
        "dotnet_gc_collections_total_other 99");
}
