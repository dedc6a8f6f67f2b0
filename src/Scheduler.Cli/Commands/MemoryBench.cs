using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Scheduler.Cli.Bench;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Hosting;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench memory`: the master's memory and store as history grows, on SQLite and on etcd.
/// One worker process hosts N simulated nodes. First, on a master that keeps every job, M jobs are
/// stored and the master's RSS, managed heap and the store's size are read. With --fill batch (the
/// default) the M jobs come in SubmitBatch calls of 1,000 and ask for a node label no node has, so
/// they stay pending (first reading: M pending jobs), then every one is cancelled (second reading: M
/// finished jobs, the history retention bounds). With --fill agents each job runs a cheap real agent
/// to its end instead (slow: the worker starts about 50 agents a second here). Then, on a fresh master
/// with retention on, a steady run submits real agents at a fixed rate and samples every 10 s: once
/// the retention window is full the history, RSS and store stay level, and the run reports their
/// range from then on. It measures; it asserts no timing.
/// </summary>
internal static class MemoryBench
{
    /// <summary>Jobs per SubmitBatch call in --fill batch: the most the master takes in one call.</summary>
    internal const int FillBatch = 1000;

    /// <summary>The node label every --fill batch job asks for; no simulated node has it, so they stay pending.</summary>
    internal const string NeverLabel = "scheduler.bench/fill";

    private const int FillCallers = 4;

    // A cancel is one store write on the master's loop, and each inbox batch is followed by a
    // scheduling pass over what is still pending (100,000 jobs at first): many cancels in flight share a pass.
    private const int CancelCallers = 256;
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromMinutes(60);
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var nodes = AtLeast(new Option<int>("--nodes") { Description = "Simulated nodes", DefaultValueFactory = _ => 10_000 }, 1, "");
        var jobs = AtLeast(new Option<int>("--jobs") { Description = "Jobs stored in the master before the readings", DefaultValueFactory = _ => 100_000 }, 1, "");
        var fill = OneOf(new Option<string>("--fill") { Description = "How the jobs are stored: batch (SubmitBatch of jobs that stay pending, then cancelled) or agents (each runs a real agent to its end)", DefaultValueFactory = _ => "batch" }, "batch", "agents");
        var store = OneOf(new Option<string>("--store") { Description = "sqlite, etcd or both", DefaultValueFactory = _ => "both" }, "sqlite", "etcd", "both");
        var longSeconds = AtLeast(new Option<int>("--long-seconds") { Description = "Length of the steady run with retention on, in seconds (0: skip it)", DefaultValueFactory = _ => 600 }, 0, " (0 skips the steady run)");
        var longRate = AtLeast(new Option<int>("--long-rate") { Description = "Jobs per second submitted during the steady run", DefaultValueFactory = _ => 50 }, 1, "");
        var retention = Duration(new Option<string>("--job-retention") { Description = "The master's retention of finished jobs, as a duration (30s, 10m, 24h; 0 keeps them)", DefaultValueFactory = _ => "60s" }, "0 keeps finished jobs forever");
        var retentionHours = new Option<int?>("--job-retention-hours") { Description = "The master's retention in whole hours instead of --job-retention" };
        retentionHours.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && int.TryParse(r.Tokens[^1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var hours) && hours < 0)
            {
                r.AddError($"--job-retention-hours must be 0 or more (0 keeps finished jobs forever); got {hours}");
            }
        });
        var window = Duration(new Option<string>("--request-id-window") { Description = "The master's --request-id-window: finished jobs are kept at least this long after their submission (the bench's default matches its retention)", DefaultValueFactory = _ => "60s" }, "0: no floor under the retention");
        var heartbeat = AtLeast(new Option<int>("--heartbeat-ms") { Description = "Heartbeat interval the master hands the nodes (a longer one lightens 10,000 nodes on a small machine)", DefaultValueFactory = _ => 1000 }, 100, "");
        var leaseTtl = AtLeast(new Option<int>("--lease-ttl-ms") { Description = "The etcd master's --lease-ttl-ms (0: its default, 2 s); a longer lease survives the pauses of an overloaded machine", DefaultValueFactory = _ => 0 }, 0, " (0: the master's default)");
        var concurrency = AtLeast(new Option<int>("--concurrency") { Description = "Concurrent submitters (and cancellers)", DefaultValueFactory = _ => 32 }, 1, "");
        var insecure = new Option<bool>("--insecure") { Description = "Plaintext gRPC without certificates (default: mutual TLS)" };
        var command = new Command("memory", "Master RSS, managed heap and store size with N nodes and M jobs stored, then over a steady run with retention on; SQLite and etcd")
        {
            nodes, jobs, fill, store, longSeconds, longRate, retention, retentionHours, window, heartbeat, leaseTtl, concurrency, insecure,
        };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            bool[] stores = parse.GetValue(store) switch
            {
                "sqlite" => [false],
                "etcd" => [true],
                _ => [false, true],
            };
            var output = parse.InvocationConfiguration.Output;
            var kept = parse.GetValue(retentionHours) is { } hours
                ? new Retention(["--job-retention-hours", hours.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromHours(hours), $"{hours}h")
                : Retention.Of("--job-retention", parse.GetValue(retention)!);
            var floor = Retention.Of("--request-id-window", parse.GetValue(window)!);
            var settings = new Settings(parse.GetValue(nodes), parse.GetValue(jobs), parse.GetValue(fill) == "agents", parse.GetValue(longSeconds),
                parse.GetValue(longRate), kept, floor, parse.GetValue(heartbeat), parse.GetValue(leaseTtl), parse.GetValue(concurrency), parse.GetValue(insecure));
            var machine = BenchMachine.Current();
            await output.WriteLineAsync(machine.ToString());
            await output.WriteLineAsync($"command: schedctl {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}");
            var figures = new BenchFigures().Add("bench", "memory").Add("nodes", settings.Nodes).Add("jobs", settings.Jobs).Add("fill", settings.Agents ? "agents" : "batch")
                .Add("tls", !settings.Insecure).Add("heartbeat_ms", settings.HeartbeatMs).Add("lease_ttl_ms", settings.LeaseTtlMs).Add("retention_s", settings.Retention.Window.TotalSeconds)
                .Add("request_id_window_s", settings.RequestIdWindow.Window.TotalSeconds).Add("long_s", settings.LongSeconds).Add("long_rate", settings.LongRate);
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

    private static Option<int> AtLeast(Option<int> option, int min, string hint)
    {
        option.Validators.Add(r =>
        {
            // A value that is no whole number is already an error of its own (see Cli.Describe).
            if (r.Tokens.Count == 0 || !int.TryParse(r.Tokens[^1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return;
            }

            if (value < min)
            {
                r.AddError($"{option.Name} must be {min} or more{hint}; got {value.ToString(CultureInfo.InvariantCulture)}");
            }
        });
        return option;
    }

    private static Option<string> OneOf(Option<string> option, params string[] allowed)
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!allowed.Contains(value, StringComparer.Ordinal))
            {
                r.AddError($"{option.Name} must be {string.Join(", ", allowed[..^1])} or {allowed[^1]}; got '{value}'");
            }
        });
        return option;
    }

    private static Option<string> Duration(Option<string> option, string zero)
    {
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!DurationText.TryParse(value, out _))
            {
                r.AddError($"{option.Name} must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d ({zero}); got '{value}'");
            }
        });
        return option;
    }

    private sealed record Settings(int Nodes, int Jobs, bool Agents, int LongSeconds, int LongRate, Retention Retention, Retention RequestIdWindow, int HeartbeatMs, int LeaseTtlMs, int Concurrency, bool Insecure)
    {
        public string[] MasterArgs => [.. Retention.MasterArgs, .. RequestIdWindow.MasterArgs];

        /// <summary>Flags every master of the run gets: the lease, when one was asked for (etcd only: a SQLite master holds none).</summary>
        public string[] LeaseArgs(bool etcd) => etcd && LeaseTtlMs > 0 ? ["--lease-ttl-ms", LeaseTtlMs.ToString(CultureInfo.InvariantCulture)] : [];

        /// <summary>How long a finished job stays: its retention, but never sooner than the request-id window after its submission.</summary>
        public TimeSpan Kept => Retention.Window == TimeSpan.Zero ? TimeSpan.Zero : Retention.Window > RequestIdWindow.Window ? Retention.Window : RequestIdWindow.Window;
    }

    /// <summary>A master flag given as a duration: the flags it is started with, the window, and how it was written.</summary>
    private sealed record Retention(string[] MasterArgs, TimeSpan Window, string Text)
    {
        /// <summary>A value already checked by the option's validator.</summary>
        public static Retention Of(string flag, string text)
        {
            return DurationText.TryParse(text, out var window)
                ? new Retention([flag, text.Trim()], window, text.Trim())
                : throw new FormatException($"{flag}: '{text}' is not a duration such as 30s, 10m, 24h or 7d");
        }
    }

    /// <summary>One reading of the master: RSS, managed heap after its last collection, store size, jobs stored by state, machine load.</summary>
    private sealed record Reading(long Rss, long Heap, long Store, IReadOnlyDictionary<string, int> Jobs, LoadAverage? Load)
    {
        public int Total => Jobs.Values.Sum();

        public string JobsText => Jobs.Count == 0 ? "none" : string.Join(", ", Jobs.OrderBy(j => j.Key, StringComparer.Ordinal).Select(j => $"{j.Value} {j.Key.ToLowerInvariant()}"));

        public override string ToString() =>
            $"master RSS {FanInBench.Mib(Rss)} MiB, managed heap {(Heap > 0 ? $"{FanInBench.Mib(Heap)} MiB" : "unknown")}, store {Store / (1024.0 * 1024):F1} MiB; jobs stored {Total} ({JobsText}); {Load?.ToString() ?? "load average unknown"}";
    }

    private static async Task<int> RunAsync(string dir, bool etcd, Settings settings, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        var name = etcd ? "etcd" : "sqlite";

        // Part 1, history at scale: retention off, so the readings count every one of the M jobs.
        string[] keepAll = ["--job-retention", "0", .. settings.LeaseArgs(etcd)];
        var code = await WithClusterAsync(Path.Combine(dir, "history"), etcd, settings, keepAll, name, figures, output, async cluster =>
        {
            await Task.Delay(Settle, ct);
            var idle = await ReadingAsync(cluster, ct);
            await output.WriteLineAsync($"[{name}] idle, {Settle.TotalSeconds:F0} s after the nodes were ready: {idle}");
            Add(figures, name, "idle", idle);
            var filled = settings.Agents
                ? await FillWithAgentsAsync(cluster, name, settings, idle, figures, output, ct)
                : await FillWithBatchesAsync(cluster, name, settings, idle, figures, output, ct);
            return filled ? Cli.Ok : Cli.JobFailed;
        }, ct);
        if (code != Cli.Ok || settings.LongSeconds == 0)
        {
            return code;
        }

        // Part 2, bounded history: a fresh master with retention on, fed at a steady rate.
        return await WithClusterAsync(Path.Combine(dir, "steady"), etcd, settings, [.. settings.MasterArgs, .. settings.LeaseArgs(etcd)], name, figures, output, async cluster =>
        {
            await LongRunAsync(cluster, name, settings, figures, output, ct);
            return Cli.Ok;
        }, ct);
    }

    /// <summary>Starts a master (with <paramref name="masterArgs"/>) and the node host, waits for every node, runs <paramref name="body"/>, stops them.</summary>
    private static async Task<int> WithClusterAsync(string dir, bool etcd, Settings settings, string[] masterArgs, string name, BenchFigures figures, TextWriter output, Func<BenchCluster, Task<int>> body, CancellationToken ct)
    {
        await output.WriteLineAsync($"[{name}] {LoadAverage.Read()}: starting a master ({(settings.Insecure ? "--insecure: plaintext, no certificates" : "mutual TLS")}, {string.Join(' ', masterArgs)}) and one worker process hosting {settings.Nodes} simulated nodes, heartbeat every {settings.HeartbeatMs} ms...");
        await using var cluster = await BenchCluster.StartAsync(dir, settings.Nodes, etcd, settings.Insecure, ct, heartbeatMs: settings.HeartbeatMs,
            deadAfterMs: Math.Max(10_000, settings.HeartbeatMs * 10), masterArgs: masterArgs);
        if (await cluster.WaitReadyAsync(settings.Nodes, ReadyLimit, output, ct) is not { } ready)
        {
            await output.WriteLineAsync($"[{name}] the nodes were not all ready within {ReadyLimit.TotalMinutes:F0} min (try a longer --heartbeat-ms)");
            figures.Add($"{name}_converged", false);
            return Cli.Error;
        }

        await output.WriteLineAsync($"[{name}] {settings.Nodes} nodes ready after {ready.TotalSeconds:F1} s; {LoadAverage.Read()}");
        figures.Add($"{name}_{Path.GetFileName(dir)}_converge_s", ready.TotalSeconds);
        return await body(cluster);
    }

    /// <summary>Every job runs a real agent (/bin/true) to its end: the history as agents leave it, slowly.</summary>
    private static async Task<bool> FillWithAgentsAsync(BenchCluster cluster, string name, Settings settings, Reading idle, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(_ => Task.Run(
            async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < settings.Jobs)
                {
                    await SubmitAsync(cluster.Client, i, "mem", ct);
                }
            },
            ct)));
        // Every job was stored before this wait, so none left unfinished means all finished, however many retention deleted since.
        var finished = await WaitIdleAsync(cluster.Client, DrainLimit, ct);
        var runSeconds = clock.Elapsed.TotalSeconds;
        var full = await ReadingAsync(cluster, ct);
        await output.WriteLineAsync(finished
            ? $"[{name}] {settings.Jobs} jobs submitted and run to their end in {runSeconds:F1} s: {full} ({PerJob(full.Rss - idle.Rss, settings.Jobs)} B RSS and {PerJob(full.Store - idle.Store, settings.Jobs)} B store per job)"
            : $"[{name}] the {settings.Jobs} jobs did not all finish within {DrainLimit.TotalMinutes:F0} min: {full}");
        Add(figures, name, "finished", full, idle, settings.Jobs);
        figures.Add($"{name}_fill_s", runSeconds);
        return finished;
    }

    /// <summary>
    /// SubmitBatch calls of 1,000 jobs that ask for a node label no node has, so they stay pending: the
    /// queue's cost (reading "pending"). Then every one is cancelled: the same jobs as finished history,
    /// which is what retention bounds (reading "cancelled").
    /// A cancelled job's record holds its spec and status but no attempt (node, GPUs, start), so it is a
    /// little smaller than one that ran.
    /// </summary>
    private static async Task<bool> FillWithBatchesAsync(BenchCluster cluster, string name, Settings settings, Reading idle, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        var ids = new string[settings.Jobs];
        var clock = Stopwatch.StartNew();
        var nextBatch = -1;
        var batches = (settings.Jobs + FillBatch - 1) / FillBatch;
        await Task.WhenAll(Enumerable.Range(0, FillCallers).Select(_ => Task.Run(
            async () =>
            {
                int b;
                while ((b = Interlocked.Increment(ref nextBatch)) < batches)
                {
                    var first = b * FillBatch;
                    var items = Enumerable.Range(first, Math.Min(FillBatch, settings.Jobs - first))
                        .Select(i => (NeverPlacedSpec(i), (string?)$"bench-fill-{i.ToString(CultureInfo.InvariantCulture)}"))
                        .ToList();
                    var response = await BusyRetryAsync(() => cluster.Client.SubmitBatchAsync(items, ct), ct);
                    for (var k = 0; k < response.Items.Count; k++)
                    {
                        ids[first + k] = response.Items[k].Job.Id;
                    }
                }
            },
            ct)));
        var submitSeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(Settle, ct);
        var pending = await ReadingAsync(cluster, ct);
        await output.WriteLineAsync($"[{name}] {settings.Jobs} jobs stored in {submitSeconds:F1} s (SubmitBatch of {FillBatch}, {FillCallers} callers; each asks for node label {NeverLabel}=none, so all stay PENDING), {Settle.TotalSeconds:F0} s later: {pending} ({PerJob(pending.Rss - idle.Rss, settings.Jobs)} B RSS and {PerJob(pending.Store - idle.Store, settings.Jobs)} B store per pending job)");
        Add(figures, name, "pending", pending, idle, settings.Jobs);
        figures.Add($"{name}_fill_submit_s", submitSeconds);

        clock.Restart();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, CancelCallers).Select(_ => Task.Run(
            async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < ids.Length)
                {
                    var id = ids[i];
                    await BusyRetryAsync(() => cluster.Client.CancelJobAsync(id, ct), ct);
                }
            },
            ct)));
        var cancelSeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(Settle, ct);
        var cancelled = await ReadingAsync(cluster, ct);
        await output.WriteLineAsync($"[{name}] all {settings.Jobs} cancelled in {cancelSeconds:F1} s ({CancelCallers} callers), {Settle.TotalSeconds:F0} s later: {cancelled} ({PerJob(cancelled.Rss - idle.Rss, settings.Jobs)} B RSS and {PerJob(cancelled.Store - idle.Store, settings.Jobs)} B store per finished job)");
        Add(figures, name, "cancelled", cancelled, idle, settings.Jobs);
        figures.Add($"{name}_fill_cancel_s", cancelSeconds);

        return true;
    }

    /// <summary>A job shaped like the steady run's (a third CPU-only, a third one GPU, a third half a GPU) that no node can take.</summary>
    internal static JobSpec NeverPlacedSpec(int i)
    {
        var spec = BenchCommand.Spec(i, "fill", "/bin/true");
        spec.NodeSelector[NeverLabel] = "none";
        return spec;
    }

    /// <summary>
    /// Submits at a steady rate with retention on and reports history, RSS and store every 10 s; once
    /// the retention window is full (the first jobs of the run could have expired), their range from
    /// then on is the bound the run shows.
    /// </summary>
    private static async Task LongRunAsync(BenchCluster cluster, string name, Settings settings, BenchFigures figures, TextWriter output, CancellationToken ct)
    {
        await output.WriteLineAsync($"[{name}] steady run: {settings.LongRate} jobs/s (real agents) for {settings.LongSeconds} s, retention {settings.Retention.Text}, request-id window {settings.RequestIdWindow.Text}; {LoadAverage.Read()}");
        var first = await ReadingAsync(cluster, ct);

        // The jobs of the run finish within seconds; retention is checked at least once a minute.
        var windowFull = settings.Kept + TimeSpan.FromSeconds(Math.Min(60, Math.Max(5, settings.Retention.Window.TotalSeconds / 2)) + 10);
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
                var full = settings.Kept > TimeSpan.Zero && clock.Elapsed >= windowFull;
                if (full)
                {
                    level.Add(sample);
                }

                await output.WriteLineAsync($"[{name}]   t={clock.Elapsed.TotalSeconds:F0}s submitted {submitted}: {sample}{(full ? " (retention window full)" : "")}");
            }
        }

        await Task.WhenAll(calls);

        // Counted by what is still to finish: retention deletes finished jobs, so totals fall.
        await WaitIdleAsync(cluster.Client, TimeSpan.FromMinutes(10), ct);
        var last = await ReadingAsync(cluster, ct);
        await output.WriteLineAsync($"[{name}] after the steady run: {submitted} more jobs submitted, {last.Total - first.Total} more stored; RSS {FanInBench.Mib(first.Rss)} -> {FanInBench.Mib(last.Rss)} MiB, managed heap {FanInBench.Mib(first.Heap)} -> {FanInBench.Mib(last.Heap)} MiB, store {FanInBench.Mib(first.Store)} -> {FanInBench.Mib(last.Store)} MiB; {last.Load}");
        if (level.Samples > 0)
        {
            await output.WriteLineAsync($"[{name}] with the retention window full ({level.Samples} readings from t={windowFull.TotalSeconds:F0}s): jobs stored {level.JobsMin}-{level.JobsMax}, RSS {FanInBench.Mib(level.RssMin)}-{FanInBench.Mib(level.RssMax)} MiB, managed heap {FanInBench.Mib(level.HeapMin)}-{FanInBench.Mib(level.HeapMax)} MiB, store {level.StoreMin / (1024.0 * 1024):F1}-{level.StoreMax / (1024.0 * 1024):F1} MiB "
                + $"(bounded by about rate x max(retention, request-id window) = {settings.LongRate * settings.Kept.TotalSeconds:F0} finished jobs)");
            figures.Add($"{name}_full_readings", level.Samples)
                .Add($"{name}_full_jobs_min", level.JobsMin)
                .Add($"{name}_full_jobs_max", level.JobsMax)
                .Add($"{name}_full_rss_min_mib", FanInBench.Mib(level.RssMin))
                .Add($"{name}_full_rss_max_mib", FanInBench.Mib(level.RssMax))
                .Add($"{name}_full_heap_min_mib", FanInBench.Mib(level.HeapMin))
                .Add($"{name}_full_heap_max_mib", FanInBench.Mib(level.HeapMax))
                .Add($"{name}_full_store_min_mib", level.StoreMin / (1024.0 * 1024))
                .Add($"{name}_full_store_max_mib", level.StoreMax / (1024.0 * 1024));
        }
        else
        {
            await output.WriteLineAsync($"[{name}] the run ended before the retention window ({settings.Retention.Text}, request-id window {settings.RequestIdWindow.Text}) was full: it shows growth per retained job, not the bound");
        }

        figures.Add($"{name}_long_submitted", submitted)
            .Add($"{name}_long_stored_delta", last.Total - first.Total)
            .Add($"{name}_long_rss_delta_mib", FanInBench.Mib(last.Rss - first.Rss))
            .Add($"{name}_long_store_delta_mib", (last.Store - first.Store) / (1024.0 * 1024))
            .Add($"{name}_long_load1_end", last.Load?.One ?? 0);
    }

    /// <summary>The range of RSS, heap, store and stored jobs over the readings taken once the retention window was full.</summary>
    private sealed class LevelAfter
    {
        public int Samples { get; private set; }

        public long RssMin { get; private set; } = long.MaxValue;

        public long RssMax { get; private set; }

        public long HeapMin { get; private set; } = long.MaxValue;

        public long HeapMax { get; private set; }

        public long StoreMin { get; private set; } = long.MaxValue;

        public long StoreMax { get; private set; }

        public int JobsMin { get; private set; } = int.MaxValue;

        public int JobsMax { get; private set; }

        public void Add(Reading reading)
        {
            Samples++;
            (RssMin, RssMax) = (Math.Min(RssMin, reading.Rss), Math.Max(RssMax, reading.Rss));
            (HeapMin, HeapMax) = (Math.Min(HeapMin, reading.Heap), Math.Max(HeapMax, reading.Heap));
            (StoreMin, StoreMax) = (Math.Min(StoreMin, reading.Store), Math.Max(StoreMax, reading.Store));
            (JobsMin, JobsMax) = (Math.Min(JobsMin, reading.Total), Math.Max(JobsMax, reading.Total));
        }
    }

    /// <summary>A reading's figures under <c>STORE_LABEL_*</c>; with a baseline, also the bytes per job above it.</summary>
    private static void Add(BenchFigures figures, string store, string label, Reading reading, Reading? baseline = null, int jobs = 0)
    {
        var key = $"{store}_{label}";
        figures.Add($"{key}_rss_mib", FanInBench.Mib(reading.Rss))
            .Add($"{key}_heap_mib", FanInBench.Mib(reading.Heap))
            .Add($"{key}_store_mib", reading.Store / (1024.0 * 1024))
            .Add($"{key}_jobs", reading.Total)
            .Add($"{key}_load1", reading.Load?.One ?? 0);
        if (baseline is not null)
        {
            figures.Add($"{key}_rss_bytes_per_job", PerJob(reading.Rss - baseline.Rss, jobs))
                .Add($"{key}_heap_bytes_per_job", PerJob(reading.Heap - baseline.Heap, jobs))
                .Add($"{key}_store_bytes_per_job", PerJob(reading.Store - baseline.Store, jobs));
        }
    }

    /// <summary>The runtime's GC heap size after its last collection, summed over generations (System.Runtime meter).</summary>
    internal const string HeapSeries = "dotnet_gc_last_collection_heap_size_bytes";

    private static async Task<Reading> ReadingAsync(BenchCluster cluster, CancellationToken ct)
    {
        var rss = ProcessUsage.Read(cluster.MasterPid)?.RssBytes ?? 0;
        double? heap = null;
        for (var attempt = 0; attempt < 3 && heap is null; attempt++)
        {
            // A scrape can time out while the master is busy: asked again, then "unknown".
            heap = PrometheusGauge.Sum(await cluster.ScrapeAsync(ct), HeapSeries);
        }

        var store = await cluster.StoreBytesAsync(ct);
        var status = await cluster.Client.GetClusterStatusAsync(ct);
        return new Reading(rss, (long)(heap ?? 0), store, new Dictionary<string, int>(status.JobsByState), LoadAverage.Read());
    }

    private static long PerJob(long bytes, int jobs) => jobs > 0 ? bytes / jobs : 0;

    private static async Task<int> StoredJobsAsync(SchedulerClient client, CancellationToken ct) =>
        (await client.GetClusterStatusAsync(ct)).JobsByState.Values.Sum();

    /// <summary>Submits one job, waiting and trying again while the master pushes back (RESOURCE_EXHAUSTED, UNAVAILABLE).</summary>
    private static Task<SubmitJobResponse> SubmitAsync(SchedulerClient client, int i, string phase, CancellationToken ct) =>
        BusyRetryAsync(() => client.SubmitAsync(BenchCommand.Spec(i, phase, "/bin/true"), $"bench-{phase}-{i.ToString(CultureInfo.InvariantCulture)}", ct), ct);

    /// <summary>
    /// A call tried again while the master pushes back or is slow beyond the client's own retries: only
    /// for calls a repeat cannot double (a submit's request ids, a cancel of a cancelled job returns it).
    /// </summary>
    private static async Task<T> BusyRetryAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.ResourceExhausted or StatusCode.Unavailable or StatusCode.DeadlineExceeded && attempt < 100)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * Math.Min(attempt + 1, 20)), ct);
            }
        }
    }

    /// <summary>Waits until no stored job is unfinished; false when <paramref name="limit"/> passed first.</summary>
    private static async Task<bool> WaitIdleAsync(SchedulerClient client, TimeSpan limit, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var status = await client.GetClusterStatusAsync(ct);
            if (status.JobsByState.Where(s => s.Key is not ("SUCCEEDED" or "FAILED" or "CANCELLED")).Sum(s => s.Value) == 0)
            {
                return true;
            }

            await Task.Delay(500, ct);
        }

        return false;
    }
}
