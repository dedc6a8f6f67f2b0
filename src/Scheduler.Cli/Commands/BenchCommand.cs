using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Scheduler.Cli.Local;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench`: end-to-end throughput of a local cluster. Starts a master and one worker
/// process hosting N simulated nodes, submits M short real agents (CPU-only, whole and shared
/// GPU) with C concurrent clients, and reports submit rate and latency, time from submit to the
/// agent running, and the time until every job succeeded.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "Simulated nodes", DefaultValueFactory = _ => 50 };
        var jobs = new Option<int>("--jobs") { Description = "Jobs to submit", DefaultValueFactory = _ => 1000 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent submitters", DefaultValueFactory = _ => 16 };
        var command = new Command("bench", "Measure submit and scheduling throughput on a local cluster with simulated nodes") { nodes, jobs, concurrency };
        command.Subcommands.Add(FailoverBench.Create());
        command.Subcommands.Add(MigrationBench.Create());
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-{Environment.ProcessId}");
            try
            {
                return await RunAsync(dir, parse.GetValue(nodes), parse.GetValue(jobs), parse.GetValue(concurrency), output, ct);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }));
        return command;
    }

    private static async Task<int> RunAsync(string dir, int nodeCount, int jobCount, int concurrency, TextWriter output, CancellationToken ct)
    {
        await using var cluster = await LocalCluster.StartAsync(
            new LocalClusterOptions(dir, Workers: 0, GpusPerWorker: 8, HeartbeatIntervalMs: 1000, DeadAfterMs: 10_000, SimulatedNodes: nodeCount),
            ct);
        await using var client = new SchedulerClient(cluster.ClientOptions());
        while ((await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) < nodeCount)
        {
            await Task.Delay(100, ct);
        }

        var latencies = new double[jobCount];
        var ids = new string[jobCount];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < jobCount)
            {
                var started = Stopwatch.GetTimestamp();
                var response = await client.SubmitAsync(Spec(i), $"bench-{i}", ct);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                ids[i] = response.Job.Id;
            }
        }));
        var submitSeconds = clock.Elapsed.TotalSeconds;

        IReadOnlyList<Job> all;
        while (true)
        {
            all = await client.ListJobsAsync(null, jobCount, ct);
            if (all.Count(j => j.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled) >= jobCount)
            {
                break;
            }

            await Task.Delay(200, ct);
        }

        var makespan = clock.Elapsed.TotalSeconds;
        var toRunning = all.Where(j => j.StartedAt is not null)
            .Select(j => (j.StartedAt.ToDateTimeOffset() - j.CreatedAt.ToDateTimeOffset()).TotalMilliseconds)
            .Order()
            .ToArray();
        Array.Sort(latencies);
        var failed = all.Count(j => j.State != JobState.Succeeded);
        var gpus = nodeCount * 8;
        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        await output.WriteLineAsync($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.FrameworkDescription}");
        await output.WriteLineAsync($"cluster: 1 master, {nodeCount} simulated nodes ({gpus} GPUs) in one worker process; {jobCount} jobs (/bin/true: 1/3 CPU-only, 1/3 one GPU, 1/3 half a GPU), {concurrency} submitters");
        await output.WriteLineAsync($"submit:  {F(jobCount / submitSeconds)} jobs/s; latency p50 {F(Percentile(latencies, 0.5))} ms, p99 {F(Percentile(latencies, 0.99))} ms");
        await output.WriteLineAsync($"to running (created → agent started): p50 {F(Percentile(toRunning, 0.5))} ms, p99 {F(Percentile(toRunning, 0.99))} ms");
        await output.WriteLineAsync($"all {jobCount} finished in {F(makespan)} s ({F(jobCount / makespan)} jobs/s end to end); {failed} not succeeded");
        return failed == 0 ? Cli.Ok : Cli.JobFailed;
    }

    private static JobSpec Spec(int i)
    {
        var spec = new JobSpec
        {
            Name = $"bench-{i}",
            Command = "/bin/true",
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

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
