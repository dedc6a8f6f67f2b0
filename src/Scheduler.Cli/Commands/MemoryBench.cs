using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Scheduler.Cli.Bench;
using Scheduler.Client;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench memory`: the master's memory and store as history grows, on SQLite and on etcd.
/// One worker process hosts N simulated nodes; M jobs (cheap real agents) are submitted through
/// the API and run to completion, then the master's RSS and the store's size on disk are read.
/// A longer run then keeps submitting at a steady rate with retention on and samples both, so the
/// history, RSS and store are reported every 10 s: once the retention window is full (finished jobs
/// older than --job-retention are deleted) they stay level, and the run reports their range from
/// then on. It measures; it asserts no timing.
/// </summary>
internal static class MemoryBench
{
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromMinutes(60);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "Simulated nodes", DefaultValueFactory = _ => 10_000 };
        var jobs = new Option<int>("--jobs") { Description = "Jobs submitted and run to completion before the first reading", DefaultValueFactory = _ => 100_000 };
        var store = new Option<string>("--store") { Description = "sqlite, etcd or both", DefaultValueFactory = _ => "both" };
        var longSeconds = new Option<int>("--long-seconds") { Description = "Length of the steady run with retention on (0: skip it)", DefaultValueFactory = _ => 600 };
        var longRate = new Option<int>("--long-rate") { Description = "Jobs per second submitted during the steady run", DefaultValueFactory = _ => 50 };
        var retention = new Option<string>("--job-retention") { Description = "The master's retention of finished jobs, as a duration (30s, 10m, 24h)", DefaultValueFactory = _ => "60s" };
        var retentionHours = new Option<int?>("--job-retention-hours") { Description = "The master's retention in whole hours instead of --job-retention" };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent submitters", DefaultValueFactory = _ => 32 };
        var insecure = new Option<bool>("--insecure") { Description = "Plaintext gRPC without certificates (default: mutual TLS)" };
        var command = new Command("memory", "Master RSS and store size with N nodes and M jobs, then over a steady run with retention on; SQLite and etcd")
        {
            nodes, jobs, store, longSeconds, longRate, retention, retentionHours, concurrency, insecure,
        };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            bool[] stores = parse.GetValue(store) switch
            {
                "sqlite" => [false],
                "etcd" => [true],
                "both" => [false, true],
                var other => throw new ArgumentException($"--store must be sqlite, etcd or both (got '{other}')"),
            };
            var output = parse.InvocationConfiguration.Output;
            var window = parse.GetValue(retentionHours) is { } hours
                ? new Retention(["--job-retention-hours", Math.Max(0, hours).ToString(CultureInfo.InvariantCulture)], TimeSpan.FromHours(Math.Max(0, hours)), $"{hours}h")
                : Retention.Parse(parse.GetValue(retention) ?? "");
            var settings = new Settings(Math.Max(1, parse.GetValue(nodes)), Math.Max(1, parse.GetValue(jobs)), Math.Max(0, parse.GetValue(longSeconds)),
                Math.Max(1, parse.GetValue(longRate)), window, Math.Max(1, parse.GetValue(concurrency)), parse.GetValue(insecure));
            var machine = BenchMachine.Current();
            await output.WriteLineAsync(machine.ToString());
            var figures = new BenchFigures().Add("bench", "memory").Add("nodes", settings.Nodes).Add("jobs", settings.Jobs).Add("tls", !settings.Insecure)
                .Add("retention_s", settings.Retention.Window.TotalSeconds).Add("long_s", settings.LongSeconds).Add("long_rate", settings.LongRate);
            var code = Cli.Ok;
            foreach (var etcd in stores)
            {
                var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-memory-{Environment.ProcessId}-{(etcd ? "etcd" : "sqlite")}");
                try
                {
                    code = Math.Max(code, await RunAsync(dir, etcd, settings, figures, output, ct));
                }
                finally
                {
                    Directory.Delete(dir, recursive: true);
                }
            }

            machine.AddTo(figures);
            await output.WriteLineAsync(figures.ToJson());
            return code;
        }));
        return command;
    }

    private sealed record Settings(int Nodes, int Jobs, int LongSeconds, int LongRate, Retention Retention, int Concurrency, bool Insecure);

    /// <summary>The master's retention: the flags it is started with, the window, and how it was written.</summary>
    private sealed record Retention(string[] MasterArgs, TimeSpan Window, string Text)
    {
        /// <summary>A whole number with s, m, h or d, or 0 (kept forever), as the master reads --job-retention.</summary>
        public static Retention Parse(string text)
        {
            var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), "^(?<n>[0-9]+)(?<unit>[smhd])$|^0$");
            if (!match.Success)
            {
                throw new ArgumentException($"--job-retention must be a duration such as 30s, 10m, 24h or 7d (0 keeps jobs forever); got '{text}'");
            }

            var window = match.Groups["n"].Success
                ? TimeSpan.FromSeconds(long.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture) * match.Groups["unit"].Value switch { "s" => 1L, "m" => 60L, "h" => 3600L, _ => 86_400L })
                : TimeSpan.Zero;
            return new Retention(["--job-retention", text.Trim()], window, text.Trim());
        }
    }

    private static async Task<int> RunAsync(string dir, bool etcd, Settings settings, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        var name = etcd ? "etcd" : "sqlite";
        await output.WriteLineAsync($"[{name}] starting a master ({(settings.Insecure ? "--insecure: plaintext, no certificates" : "mutual TLS")}, {string.Join(' ', settings.Retention.MasterArgs)}) and one worker process hosting {settings.Nodes} simulated nodes...");
        await using var cluster = await BenchCluster.StartAsync(dir, settings.Nodes, etcd, settings.Insecure, ct, masterArgs: settings.Retention.MasterArgs);
        if (await cluster.WaitReadyAsync(settings.Nodes, ReadyLimit, output, ct) is not { } ready)
        {
            await output.WriteLineAsync($"[{name}] the nodes were not all ready within {ReadyLimit.TotalMinutes:F0} min");
            return Cli.Error;
        }

        var idle = await ReadingAsync(cluster, ct);
        await output.WriteLineAsync($"[{name}] {settings.Nodes} nodes ready after {ready.TotalSeconds:F1} s: master RSS {FanInBench.Mib(idle.Rss)} MiB, store {FanInBench.Mib(idle.Store)} MiB ({(etcd ? "etcd database in use" : "SQLite files")})");
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < settings.Jobs)
            {
                await SubmitAsync(cluster.Client, i, "mem", ct);
            }
        }, ct)));
        var finished = await WaitFinishedAsync(cluster.Client, settings.Jobs, DrainLimit, ct);
        var full = await ReadingAsync(cluster, ct);
        var runSeconds = clock.Elapsed.TotalSeconds;
        await output.WriteLineAsync(finished
            ? $"[{name}] {settings.Jobs} jobs submitted and finished in {runSeconds:F1} s: master RSS {FanInBench.Mib(full.Rss)} MiB, store {FanInBench.Mib(full.Store)} MiB "
                + $"({PerJob(full.Rss - idle.Rss, settings.Jobs)} B RSS and {PerJob(full.Store - idle.Store, settings.Jobs)} B store per job)"
            : $"[{name}] the {settings.Jobs} jobs did not all finish within {DrainLimit.TotalMinutes:F0} min");
        figures.Add($"{name}_idle_rss_mib", FanInBench.Mib(idle.Rss))
            .Add($"{name}_rss_mib", FanInBench.Mib(full.Rss))
            .Add($"{name}_store_mib", full.Store / (1024.0 * 1024))
            .Add($"{name}_rss_bytes_per_job", PerJob(full.Rss - idle.Rss, settings.Jobs))
            .Add($"{name}_store_bytes_per_job", PerJob(full.Store - idle.Store, settings.Jobs))
            .Add($"{name}_jobs_per_s", finished ? settings.Jobs / runSeconds : 0);
        if (!finished)
        {
            return Cli.JobFailed;
        }

        if (settings.LongSeconds > 0)
        {
            await LongRunAsync(cluster, name, settings, figures, output, ct);
        }

        return Cli.Ok;
    }

    /// <summary>
    /// Submits at a steady rate with retention on and reports history, RSS and store every 10 s; once
    /// the retention window is full (the first jobs of the run could have expired), their range from
    /// then on is the bound the run shows.
    /// </summary>
    private static async Task LongRunAsync(BenchCluster cluster, string name, Settings settings, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        await output.WriteLineAsync($"[{name}] steady run: {settings.LongRate} jobs/s for {settings.LongSeconds} s, retention {settings.Retention.Text}");
        var first = await ReadingAsync(cluster, ct);
        var firstJobs = await StoredJobsAsync(cluster.Client, ct);

        // The jobs of the run finish within seconds; retention is checked at least once a minute.
        var windowFull = settings.Retention.Window + TimeSpan.FromSeconds(Math.Min(60, Math.Max(5, settings.Retention.Window.TotalSeconds / 2)) + 10);
        var level = new LevelAfter();
        var clock = Stopwatch.StartNew();
        var nextSample = SampleEvery;
        var submitted = 0;
        var calls = new List<Task>();
        var interval = TimeSpan.FromSeconds(1.0 / settings.LongRate);
        while (clock.Elapsed < TimeSpan.FromSeconds(settings.LongSeconds))
        {
            var due = interval * submitted;
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed, ct);
            }

            var index = submitted++;
            calls.Add(Task.Run(() => SubmitAsync(cluster.Client, index, "long", ct), ct));
            if (clock.Elapsed >= nextSample)
            {
                nextSample += SampleEvery;
                var sample = await ReadingAsync(cluster, ct);
                var stored = await StoredJobsAsync(cluster.Client, ct);
                var full = settings.Retention.Window > TimeSpan.Zero && clock.Elapsed >= windowFull;
                if (full)
                {
                    level.Add(sample.Rss, sample.Store, stored);
                }

                await output.WriteLineAsync($"[{name}]   t={clock.Elapsed.TotalSeconds:F0}s submitted {submitted}, jobs stored {stored}, RSS {FanInBench.Mib(sample.Rss)} MiB, store {sample.Store / (1024.0 * 1024):F1} MiB{(full ? " (retention window full)" : "")}");
            }
        }

        await Task.WhenAll(calls);

        // Counted by what is still to finish: retention deletes finished jobs, so totals fall.
        await WaitIdleAsync(cluster.Client, TimeSpan.FromMinutes(10), ct);
        var last = await ReadingAsync(cluster, ct);
        var lastJobs = await StoredJobsAsync(cluster.Client, ct);
        await output.WriteLineAsync($"[{name}] after the steady run: {submitted} more jobs submitted, {lastJobs - firstJobs} more stored; RSS {FanInBench.Mib(first.Rss)} -> {FanInBench.Mib(last.Rss)} MiB, store {FanInBench.Mib(first.Store)} -> {FanInBench.Mib(last.Store)} MiB");
        if (level.Samples > 0)
        {
            await output.WriteLineAsync($"[{name}] with the retention window full ({level.Samples} readings from t={windowFull.TotalSeconds:F0}s): jobs stored {level.JobsMin}-{level.JobsMax}, RSS {FanInBench.Mib(level.RssMin)}-{FanInBench.Mib(level.RssMax)} MiB, store {level.StoreMin / (1024.0 * 1024):F1}-{level.StoreMax / (1024.0 * 1024):F1} MiB "
                + $"(bounded by about rate x retention = {settings.LongRate * settings.Retention.Window.TotalSeconds:F0} finished jobs)");
            figures.Add($"{name}_full_readings", level.Samples)
                .Add($"{name}_full_jobs_min", level.JobsMin)
                .Add($"{name}_full_jobs_max", level.JobsMax)
                .Add($"{name}_full_rss_min_mib", FanInBench.Mib(level.RssMin))
                .Add($"{name}_full_rss_max_mib", FanInBench.Mib(level.RssMax))
                .Add($"{name}_full_store_min_mib", level.StoreMin / (1024.0 * 1024))
                .Add($"{name}_full_store_max_mib", level.StoreMax / (1024.0 * 1024));
        }
        else
        {
            await output.WriteLineAsync($"[{name}] the run ended before the retention window ({settings.Retention.Text}) was full: it shows growth per retained job, not the bound (about rate x retention jobs)");
        }

        figures.Add($"{name}_long_submitted", submitted)
            .Add($"{name}_long_stored_delta", lastJobs - firstJobs)
            .Add($"{name}_long_rss_delta_mib", FanInBench.Mib(last.Rss - first.Rss))
            .Add($"{name}_long_store_delta_mib", (last.Store - first.Store) / (1024.0 * 1024));
    }

    /// <summary>The range of RSS, store and stored jobs over the readings taken once the retention window was full.</summary>
    private sealed class LevelAfter
    {
        public int Samples { get; private set; }

        public long RssMin { get; private set; } = long.MaxValue;

        public long RssMax { get; private set; }

        public long StoreMin { get; private set; } = long.MaxValue;

        public long StoreMax { get; private set; }

        public int JobsMin { get; private set; } = int.MaxValue;

        public int JobsMax { get; private set; }

        public void Add(long rss, long store, int jobs)
        {
            Samples++;
            (RssMin, RssMax) = (Math.Min(RssMin, rss), Math.Max(RssMax, rss));
            (StoreMin, StoreMax) = (Math.Min(StoreMin, store), Math.Max(StoreMax, store));
            (JobsMin, JobsMax) = (Math.Min(JobsMin, jobs), Math.Max(JobsMax, jobs));
        }
    }

    private static async Task<(long Rss, long Store)> ReadingAsync(BenchCluster cluster, CancellationToken ct) =>
        (ProcessUsage.Read(cluster.MasterPid)?.RssBytes ?? 0, await cluster.StoreBytesAsync(ct));

    private static long PerJob(long bytes, int jobs) => jobs > 0 ? bytes / jobs : 0;

    private static async Task<int> StoredJobsAsync(SchedulerClient client, CancellationToken ct) =>
        (await client.GetClusterStatusAsync(ct)).JobsByState.Values.Sum();

    /// <summary>Submits one job, waiting and trying again while the master pushes back (RESOURCE_EXHAUSTED, UNAVAILABLE).</summary>
    private static async Task SubmitAsync(SchedulerClient client, int i, string phase, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await client.SubmitAsync(BenchCommand.Spec(i, phase, "/bin/true"), $"bench-{phase}-{i.ToString(CultureInfo.InvariantCulture)}", ct);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.ResourceExhausted or StatusCode.Unavailable && attempt < 100)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * Math.Min(attempt + 1, 20)), ct);
            }
        }
    }

    private static async Task WaitIdleAsync(SchedulerClient client, TimeSpan limit, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var status = await client.GetClusterStatusAsync(ct);
            if (status.JobsByState.Where(s => s.Key is not ("SUCCEEDED" or "FAILED" or "CANCELLED")).Sum(s => s.Value) == 0)
            {
                return;
            }

            await Task.Delay(500, ct);
        }
    }

    private static async Task<bool> WaitFinishedAsync(SchedulerClient client, int jobs, TimeSpan limit, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var status = await client.GetClusterStatusAsync(ct);
            if (status.JobsByState.Where(s => s.Key is "SUCCEEDED" or "FAILED" or "CANCELLED").Sum(s => s.Value) >= jobs)
            {
                return true;
            }

            await Task.Delay(500, ct);
        }

        return false;
    }
}
