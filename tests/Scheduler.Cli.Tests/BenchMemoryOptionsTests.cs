using Scheduler.Cli.Bench;
using Scheduler.Cli.Commands;
using Scheduler.Hosting;

namespace Scheduler.Cli.Tests;

/// <summary>
/// `schedctl bench memory`'s options: a wrong value is refused before any process starts, in one
/// `error:` line naming the flag, exit 2; durations are read as the master reads them.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class BenchMemoryOptionsTests
{
    [TestCase("--long-seconds", "-5", "--long-seconds must be 0 or more (0 skips the steady run); got -5")]
    [TestCase("--long-seconds", "10m", "--long-seconds: '10m' is not a whole number")]
    [TestCase("--long-rate", "0", "--long-rate must be 1 or more; got 0")]
    [TestCase("--job-retention", "1.5h", "--job-retention must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d (0 keeps finished jobs forever); got '1.5h'")]
    [TestCase("--job-retention", "30", "--job-retention must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d (0 keeps finished jobs forever); got '30'")]
    [TestCase("--job-retention-hours", "-1", "--job-retention-hours must be 0 or more (0 keeps finished jobs forever); got -1")]
    [TestCase("--request-id-window", "5w", "--request-id-window must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d (0: no floor under the retention); got '5w'")]
    [TestCase("--heartbeat-ms", "50", "--heartbeat-ms must be 100 or more; got 50")]
    [TestCase("--lease-ttl-ms", "-1", "--lease-ttl-ms must be 0 or more (0: the master's default); got -1")]
    [TestCase("--nodes", "0", "--nodes must be 1 or more; got 0")]
    [TestCase("--store", "mysql", "--store must be sqlite, etcd or both; got 'mysql'")]
    [TestCase("--fill", "run", "--fill must be batch or agents; got 'run'")]
    public async Task A_bad_value_is_one_error_line_naming_the_flag_and_nothing_starts(string flag, string value, string message)
    {
        var result = await Schedctl.RunAsync(null, TimeSpan.FromSeconds(60), "bench", "memory", flag, value);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.Out + result.Err);
        Assert.That(result.Out, Is.Empty, "refused before the machine line: no master or worker was started");
        Assert.That(result.Err.TrimEnd(), Is.EqualTo($"error: {message} (see schedctl bench memory --help)"));
    }

    [Test]
    public void Good_values_parse_without_errors()
    {
        var parse = MemoryBench.Create().Parse(["--nodes", "10000", "--jobs", "100000", "--long-seconds", "0", "--job-retention", "7d", "--request-id-window", "0", "--fill", "agents", "--store", "etcd", "--heartbeat-ms", "5000", "--lease-ttl-ms", "10000"]);

        Assert.That(parse.Errors, Is.Empty);
    }

    [TestCase("30s", 30)]
    [TestCase("10m", 600)]
    [TestCase("24h", 86_400)]
    [TestCase("7d", 604_800)]
    [TestCase(" 0 ", 0)]
    public void A_duration_is_read_as_the_master_reads_it(string text, int seconds)
    {
        Assert.That(DurationText.TryParse(text, out var duration), Is.True);
        Assert.That(duration, Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase("")]
    [TestCase("30")]
    [TestCase("10 m")]
    [TestCase("-5s")]
    [TestCase("1.5h")]
    [TestCase("99999999d")]
    public void A_duration_the_master_would_refuse_is_refused(string text) =>
        Assert.That(DurationText.TryParse(text, out _), Is.False);

    [Test]
    public void The_managed_heap_is_the_sum_of_the_generations_and_nothing_else()
    {
        const string Scrape = """
            # TYPE dotnet_gc_last_collection_heap_size_bytes gauge
            dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation="gen0",otel_scope_name="System.Runtime"} 1000 1764466000000
            dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation="gen2"} 2500
            dotnet_gc_last_collection_heap_size_bytes_total 99
            dotnet_gc_last_collection_heap_fragmentation_size_bytes{gc_heap_generation="gen2"} 7
            """;

        Assert.That(PrometheusGauge.Sum(Scrape, MemoryBench.HeapSeries), Is.EqualTo(3500));
        Assert.That(PrometheusGauge.Sum(Scrape, "scheduler_missing"), Is.Null);
    }
}
