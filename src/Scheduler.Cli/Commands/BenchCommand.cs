using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Scheduler.Cli.Bench;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench`: end-to-end throughput of a local cluster. Starts a master and one worker
/// process hosting N simulated nodes (each its own gRPC stream and node identity), then submits
/// short real agents (CPU-only, whole and shared GPU) twice: open loop at a fixed offered rate
/// (latency measured from each submit's scheduled time, so a slow master cannot hide its queueing),
/// then as fast as C concurrent clients go. Reports accepted submits/s, submit latency, submit to
/// agent started, and the time until every job finished. It measures; it asserts no timing.
/// </summary>
internal static class BenchCommand
{
    private const int Warmup = 30;
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromMinutes(15);

    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "Simulated nodes in the one worker process", DefaultValueFactory = _ => 1000 };
        var jobs = new Option<int>("--jobs") { Description = "Jobs submitted in each of the two phases", DefaultValueFactory = _ => 2000 };
        var rate = new Option<int>("--rate") { Description = "Offered submits per second in the open-loop phase", DefaultValueFactory = _ => 1000 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent submitters in the as-fast-as-possible phase", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Jobs per SubmitBatch call in the batched phase (0 skips it)", DefaultValueFactory = _ => 100 };
        var batchCallers = new Option<int>("--batch-callers") { Description = "Concurrent SubmitBatch callers in the batched phase", DefaultValueFactory = _ => 4 };
        var batchJobs = new Option<int>("--batch-jobs") { Description = "Jobs submitted in the batched phase", DefaultValueFactory = _ => 5000 };
        var agent = new Option<string>("--agent") { Description = "The agent every job runs (a cheap real process)", DefaultValueFactory = _ => "/bin/true" };
        var etcd = new Option<bool>("--etcd") { Description = "Store in a local etcd member instead of SQLite" };
        var insecure = new Option<bool>("--insecure") { Description = "Plaintext gRPC without certificates (default: mutual TLS, as `schedctl up`)" };
        var command = new Command("bench", "Measure submit and scheduling throughput on a local cluster with simulated nodes (subcommands: fanin, memory, failover, migration)")
        {
            nodes, jobs, rate, concurrency, batch, batchCallers, batchJobs, agent, etcd, insecure,
        };
        command.Subcommands.Add(FanInBench.Create());
        command.Subcommands.Add(MemoryBench.Create());
        command.Subcommands.Add(FailoverBench.Create());
        command.Subcommands.Add(MigrationBench.Create());
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-{Environment.ProcessId}");
            try
            {
                var settings = new Settings(Math.Max(1, parse.GetValue(nodes)), Math.Max(1, parse.GetValue(jobs)), Math.Max(1, parse.GetValue(rate)),
                    Math.Max(1, parse.GetValue(concurrency)), parse.GetValue(agent)!, parse.GetValue(etcd), parse.GetValue(insecure),
                    Math.Clamp(parse.GetValue(batch), 0, 1000), Math.Max(0, parse.GetValue(batchJobs)), Math.Max(1, parse.GetValue(batchCallers)));
                return await RunAsync(dir, settings, parse.InvocationConfiguration.Output, ct);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }));
        return command;
    }

    private sealed record Settings(int Nodes, int Jobs, int Rate, int Concurrency, string Agent, bool Etcd, bool Insecure, int Batch, int BatchJobs, int BatchCallers);

    /// <summary>One phase's submits: latencies of the accepted ones, rejections by status, and its duration.</summary>
    private sealed record Phase(double[] Latencies, int Accepted, IReadOnlyDictionary<StatusCode, int> Rejected, double Seconds)
    {
        public double AcceptedPerSecond => Seconds > 0 ? Accepted / Seconds : 0;

        public string RejectedText => Rejected.Count == 0 ? "none" : string.Join(", ", Rejected.Select(r => $"{r.Value} {r.Key}"));
    }

    private static async Task<int> RunAsync(string dir, Settings settings, TextWriter output, CancellationToken ct)
    {
        var machine = BenchMachine.Current();
        await output.WriteLineAsync(machine.ToString());
        await output.WriteLineAsync($"starting a master ({(settings.Etcd ? "etcd" : "sqlite")} store, {(settings.Insecure ? "--insecure: plaintext, no certificates" : "mutual TLS")}) and one worker process hosting {settings.Nodes} simulated nodes (8 GPUs each)...");
        await using var cluster = await BenchCluster.StartAsync(dir, settings.Nodes, settings.Etcd, settings.Insecure, ct);
        if (await cluster.WaitReadyAsync(settings.Nodes, ReadyLimit, output, ct) is not { } ready)
        {
            await output.WriteLineAsync($"the nodes were not all ready within {ReadyLimit.TotalMinutes:F0} min; see {cluster.Cluster.Directory}");
            return Cli.Error;
        }

        await output.WriteLineAsync($"{settings.Nodes} nodes ready after {ready.TotalSeconds:F1} s");
        var client = cluster.Client;

        // Connections, TLS sessions and JIT warmed before anything is timed.
        for (var i = 0; i < Warmup; i++)
        {
            await SubmitAsync(client, i, "warmup", settings.Agent, Stopwatch.GetTimestamp(), ct);
        }

        var before = ProcessUsage.Read(cluster.MasterPid);
        var timings0 = MasterTimings.Parse(await cluster.ScrapeAsync(ct));
        var open = await OpenLoopAsync(client, settings, ct);
        var timings1 = MasterTimings.Parse(await cluster.ScrapeAsync(ct));
        var closed = await ClosedLoopAsync(client, settings, ct);
        var timings2 = MasterTimings.Parse(await cluster.ScrapeAsync(ct));
        var afterSubmits = ProcessUsage.Read(cluster.MasterPid);
        var batched = settings.Batch > 0 && settings.BatchJobs > 0 ? await BatchedAsync(client, settings, ct) : null;
        var timings3 = MasterTimings.Parse(await cluster.ScrapeAsync(ct));
        var afterBatches = ProcessUsage.Read(cluster.MasterPid);
        var (openTimings, closedTimings, batchTimings) = (timings1.Since(timings0), timings2.Since(timings1), timings3.Since(timings2));
        var submitted = Warmup + open.Accepted + closed.Accepted + (batched?.Accepted ?? 0);
        var drain = Stopwatch.StartNew();
        var finished = await WaitFinishedAsync(client, submitted, ct);
        var all = await client.ListJobsAsync(null, submitted + 100, ct);
        var toRunning = all.Where(j => j.StartedAt is not null)
            .Select(j => (j.StartedAt.ToDateTimeOffset() - j.CreatedAt.ToDateTimeOffset()).TotalMilliseconds)
            .Order()
            .ToArray();
        var failed = all.Count(j => j.State != JobState.Succeeded);
        var endToEnd = open.Seconds + closed.Seconds + (batched?.Seconds ?? 0) + drain.Elapsed.TotalSeconds;
        var batchCores = afterSubmits is { } s0 && afterBatches is { } s1 ? s1.CoresSince(s0) : 0;
        var masterCores = before is { } b && afterSubmits is { } a ? a.CoresSince(b) : 0;

        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        await output.WriteLineAsync($"cluster: 1 master, {settings.Nodes} simulated nodes ({settings.Nodes * 8} GPUs) in one worker process; agents run {settings.Agent} (1/3 CPU-only, 1/3 one GPU, 1/3 half a GPU)");
        await output.WriteLineAsync($"open loop, {settings.Rate}/s offered, {settings.Jobs} jobs: {F(open.AcceptedPerSecond)} accepted/s; submit latency p50 {F(Percentiles.Of(open.Latencies, 0.5))} ms, p99 {F(Percentiles.Of(open.Latencies, 0.99))} ms (from each submit's scheduled time); rejected: {open.RejectedText}");
        await output.WriteLineAsync($"  {openTimings}");
        await output.WriteLineAsync($"as fast as possible, {settings.Concurrency} submitters, {settings.Jobs} jobs: {F(closed.AcceptedPerSecond)} accepted/s; submit latency p50 {F(Percentiles.Of(closed.Latencies, 0.5))} ms, p99 {F(Percentiles.Of(closed.Latencies, 0.99))} ms; rejected: {closed.RejectedText}");
        await output.WriteLineAsync($"  {closedTimings}");
        if (batched is not null)
        {
            await output.WriteLineAsync($"batched, SubmitBatch of {settings.Batch} jobs, {settings.BatchCallers} callers, {settings.BatchJobs} jobs: {F(batched.AcceptedPerSecond)} jobs accepted/s; call latency p50 {F(Percentiles.Of(batched.Latencies, 0.5))} ms, p99 {F(Percentiles.Of(batched.Latencies, 0.99))} ms; rejected jobs: {batched.RejectedText}; master CPU {F(batchCores * 100)}% of one core");
            await output.WriteLineAsync($"  {batchTimings}");
        }

        await output.WriteLineAsync($"submit -> agent started (created -> started, as the master records them): p50 {F(Percentiles.Of(toRunning, 0.5))} ms, p99 {F(Percentiles.Of(toRunning, 0.99))} ms over {toRunning.Length} jobs");
        await output.WriteLineAsync(finished
            ? $"all {submitted} finished {F(drain.Elapsed.TotalSeconds)} s after the last submit ({F(submitted / endToEnd)} jobs/s end to end); {failed} not succeeded; master CPU {F(masterCores * 100)}% of one core while submitting"
            : $"not all {submitted} finished within {DrainLimit.TotalMinutes:F0} min of the last submit; {failed} not succeeded");
        foreach (var reason in all.Where(j => j.State != JobState.Succeeded).GroupBy(j => $"{j.State}: {j.Message}").OrderByDescending(g => g.Count()).Take(5))
        {
            await output.WriteLineAsync($"  not succeeded: {reason.Count()} x {reason.Key}");
        }

        var figures = new BenchFigures()
            .Add("bench", "e2e")
            .Add("store", cluster.Store)
            .Add("tls", !settings.Insecure)
            .Add("nodes", settings.Nodes)
            .Add("jobs_per_phase", settings.Jobs)
            .Add("offered_per_s", settings.Rate)
            .Add("open_accepted_per_s", open.AcceptedPerSecond)
            .Add("open_submit_p50_ms", Percentiles.Of(open.Latencies, 0.5))
            .Add("open_submit_p99_ms", Percentiles.Of(open.Latencies, 0.99))
            .Add("open_rejected", open.Rejected.Values.Sum())
            .Add("max_accepted_per_s", closed.AcceptedPerSecond)
            .Add("max_submit_p50_ms", Percentiles.Of(closed.Latencies, 0.5))
            .Add("max_submit_p99_ms", Percentiles.Of(closed.Latencies, 0.99))
            .Add("max_rejected", closed.Rejected.Values.Sum())
            .Add("batch_size", settings.Batch)
            .Add("batch_callers", settings.BatchCallers)
            .Add("batch_accepted_jobs_per_s", batched?.AcceptedPerSecond ?? 0)
            .Add("batch_call_p50_ms", batched is null ? 0 : Percentiles.Of(batched.Latencies, 0.5))
            .Add("batch_call_p99_ms", batched is null ? 0 : Percentiles.Of(batched.Latencies, 0.99))
            .Add("batch_rejected", batched?.Rejected.Values.Sum() ?? 0)
            .Add("master_cpu_cores_batched", batchCores)
            .Add("to_started_p50_ms", Percentiles.Of(toRunning, 0.5))
            .Add("to_started_p99_ms", Percentiles.Of(toRunning, 0.99))
            .Add("end_to_end_jobs_per_s", finished ? submitted / endToEnd : 0)
            .Add("not_succeeded", failed)
            .Add("master_cpu_cores_submitting", masterCores);
        openTimings.AddTo(figures, "open");
        closedTimings.AddTo(figures, "max");
        batchTimings.AddTo(figures, "batch");
        machine.AddTo(figures);
        await output.WriteLineAsync(figures.ToJson());
        return finished && failed == 0 ? Cli.Ok : Cli.JobFailed;
    }

    /// <summary>Submit i goes out at start + i/rate whether or not earlier ones were answered.</summary>
    private static async Task<Phase> OpenLoopAsync(SchedulerClient client, Settings settings, CancellationToken ct)
    {
        var latencies = new double[settings.Jobs];
        var outcomes = new StatusCode[settings.Jobs];
        var calls = new List<Task>(settings.Jobs);
        var start = Stopwatch.GetTimestamp();
        var ticksPerJob = (double)Stopwatch.Frequency / settings.Rate;
        for (var i = 0; i < settings.Jobs; i++)
        {
            var due = start + (long)(i * ticksPerJob);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, ct);
            }

            var index = i;
            calls.Add(Task.Run(async () => (latencies[index], outcomes[index]) = await SubmitAsync(client, index, "open", settings.Agent, due, ct), ct));
        }

        await Task.WhenAll(calls);
        return Summarise(latencies, outcomes, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private static async Task<Phase> ClosedLoopAsync(SchedulerClient client, Settings settings, CancellationToken ct)
    {
        var latencies = new double[settings.Jobs];
        var outcomes = new StatusCode[settings.Jobs];
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, settings.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < settings.Jobs)
            {
                (latencies[i], outcomes[i]) = await SubmitAsync(client, i, "max", settings.Agent, Stopwatch.GetTimestamp(), ct);
            }
        }, ct)));
        return Summarise(latencies, outcomes, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>
    /// SubmitBatch calls of <see cref="Settings.Batch"/> jobs from <see cref="Settings.BatchCallers"/> callers as fast as
    /// they go; latencies are per call, acceptance per job (a refused call refuses all its jobs).
    /// </summary>
    private static async Task<Phase> BatchedAsync(SchedulerClient client, Settings settings, CancellationToken ct)
    {
        var calls = (settings.BatchJobs + settings.Batch - 1) / settings.Batch;
        var latencies = new double[calls];
        var outcomes = new StatusCode[calls];
        var sizes = new int[calls];
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, settings.BatchCallers).Select(_ => Task.Run(async () =>
        {
            int call;
            while ((call = Interlocked.Increment(ref next)) < calls)
            {
                var first = call * settings.Batch;
                var items = Enumerable.Range(first, Math.Min(settings.Batch, settings.BatchJobs - first))
                    .Select(i => (Spec(i, "batch", settings.Agent), (string?)$"bench-batch-{i}"))
                    .ToList();
                sizes[call] = items.Count;
                var from = Stopwatch.GetTimestamp();
                try
                {
                    await client.SubmitBatchAsync(items, ct);
                    outcomes[call] = StatusCode.OK;
                }
                catch (RpcException ex) when (!ct.IsCancellationRequested)
                {
                    outcomes[call] = ex.StatusCode;
                }
                catch (MasterUnreachableException) when (!ct.IsCancellationRequested)
                {
                    outcomes[call] = StatusCode.Unavailable;
                }

                latencies[call] = Stopwatch.GetElapsedTime(from).TotalMilliseconds;
            }
        }, ct)));
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var accepted = Enumerable.Range(0, calls).Where(c => outcomes[c] == StatusCode.OK).Sum(c => sizes[c]);
        var rejected = Enumerable.Range(0, calls).Where(c => outcomes[c] != StatusCode.OK).GroupBy(c => outcomes[c]).ToDictionary(g => g.Key, g => g.Sum(c => sizes[c]));
        return new Phase([.. latencies.Where((_, c) => outcomes[c] == StatusCode.OK).Order()], accepted, rejected, seconds);
    }

    private static async Task<(double Ms, StatusCode Status)> SubmitAsync(SchedulerClient client, int i, string phase, string agent, long from, CancellationToken ct)
    {
        try
        {
            await client.SubmitAsync(Spec(i, phase, agent), $"bench-{phase}-{i}", ct);
            return (Stopwatch.GetElapsedTime(from).TotalMilliseconds, StatusCode.OK);
        }
        catch (RpcException ex) when (!ct.IsCancellationRequested)
        {
            return (Stopwatch.GetElapsedTime(from).TotalMilliseconds, ex.StatusCode);
        }
        catch (MasterUnreachableException) when (!ct.IsCancellationRequested)
        {
            return (Stopwatch.GetElapsedTime(from).TotalMilliseconds, StatusCode.Unavailable);
        }
    }

    private static Phase Summarise(double[] latencies, StatusCode[] outcomes, double seconds)
    {
        var accepted = latencies.Where((_, i) => outcomes[i] == StatusCode.OK).Order().ToArray();
        var rejected = outcomes.Where(o => o != StatusCode.OK).GroupBy(o => o).ToDictionary(g => g.Key, g => g.Count());
        return new Phase(accepted, accepted.Length, rejected, seconds);
    }

    private static async Task<bool> WaitFinishedAsync(SchedulerClient client, int jobs, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < DrainLimit)
        {
            var status = await client.GetClusterStatusAsync(ct);
            var done = status.JobsByState.Where(s => s.Key is "SUCCEEDED" or "FAILED" or "CANCELLED").Sum(s => s.Value);
            if (done >= jobs)
            {
                return true;
            }

            await Task.Delay(200, ct);
        }

        return false;
    }

    /// <summary>Jobs like the trace's mix: a third CPU-only, a third one whole GPU, a third half a GPU.</summary>
    internal static JobSpec Spec(int i, string phase, string agent)
    {
        var spec = new JobSpec
        {
            Name = $"bench-{phase}-{i.ToString(CultureInfo.InvariantCulture)}",
            Command = agent,
            Resources = new Resources { CpuMillis = 100, MemoryMib = 64 },
        };
        switch (i % 3)
        {
            case 1:
                spec.Resources.Gpus = 1;
                break;
            case 2:
                spec.Resources.GpuMilli = 500;
                break;
        }

        return spec;
    }
}
