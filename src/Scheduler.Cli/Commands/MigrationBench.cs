using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Scheduler.Cli.Local;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench migration`: the transfer engine's throughput on a checkpoint of --mib over
/// loopback (the worker's own bench-transfer, SHA-256 per chunk), then a local cluster live-migrating
/// the sample BigStateAgent (--mib of state, --change-percent of it rewritten every second) back and
/// forth --migrations times: rounds, bytes and downtime (agent stopped on the source → running on
/// the target) per migration. The last line is one JSON object with the figures.
/// </summary>
internal static partial class MigrationBench
{
    public static Command Create()
    {
        var mib = new Option<int>("--mib") { Description = "Checkpoint (and agent state) size in MiB", DefaultValueFactory = _ => 1024 };
        var change = new Option<double>("--change-percent") { Description = "Share of the agent's state rewritten every second", DefaultValueFactory = _ => 5 };
        var migrations = new Option<int>("--migrations") { Description = "Live migrations to measure", DefaultValueFactory = _ => 3 };
        var command = new Command("migration", "Measure checkpoint transfer throughput and live-migration downtime on a local cluster") { mib, change, migrations };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-migration-{Environment.ProcessId}");
            try
            {
                return await RunAsync(dir, Math.Max(1, parse.GetValue(mib)), parse.GetValue(change), Math.Max(1, parse.GetValue(migrations)), parse.InvocationConfiguration.Output, ct);
            }
            finally
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }));
        return command;
    }

    private static async Task<int> RunAsync(string dir, int mib, double changePercent, int count, TextWriter output, CancellationToken ct)
    {
        await output.WriteLineAsync($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.FrameworkDescription}");
        var transfer = await TransferAsync(mib, output, ct);

        await output.WriteLineAsync($"== live migration of the sample BigStateAgent: {mib} MiB of state, {changePercent.ToString(CultureInfo.InvariantCulture)}% rewritten every second");
        await using var cluster = await LocalCluster.StartAsync(new LocalClusterOptions(dir, DeadAfterMs: 10_000), ct);
        await using var client = new SchedulerClient(cluster.ClientOptions());
        await Until(async () => (await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) == 2, ct);
        var spec = new JobSpec
        {
            Name = "bigstate",
            Command = "dotnet",
            Resources = new Resources { CpuMillis = 500, MemoryMib = (mib * 2) + 512 },
            Checkpointable = true,
        };
        spec.Args.Add([LocalCluster.Locate("BigStateAgent", "BigStateAgent.dll"), mib.ToString(CultureInfo.InvariantCulture), changePercent.ToString(CultureInfo.InvariantCulture), "1000"]);
        var job = (await client.SubmitAsync(spec, null, ct)).Job;
        await Until(async () => (await client.GetJobAsync(job.Id, ct)).State == JobState.Running, ct);

        var downtimes = new List<double>();
        for (var i = 1; i <= count; i++)
        {
            var current = await client.GetJobAsync(job.Id, ct);
            var target = current.NodeId == "worker-a" ? "worker-b" : "worker-a";
            var clock = Stopwatch.StartNew();
            var started = await client.MigrateJobAsync(job.Id, target, ct);
            var id = started.Migration.Id;
            var done = await UntilJob(client, job.Id, j => j.LastMigration?.Id == id && (j.LastMigration.Phase != "moved" || j.LastMigration.DowntimeMs > 0), ct);
            var m = done.LastMigration;
            await output.WriteLineAsync(
                $"migration {i}: {m.SourceNode} -> {m.TargetNode} {m.Phase}: {m.Rounds} rounds, {m.BytesSent / (double)(1 << 20):F1} MiB sent, " +
                $"downtime {m.DowntimeMs} ms, {clock.Elapsed.TotalSeconds:F1} s in all{(m.Error.Length > 0 ? $" ({m.Error})" : "")}");
            if (m.Phase != "moved")
            {
                return Cli.JobFailed;
            }

            downtimes.Add(m.DowntimeMs);
        }

        var (suspendS, resumeS) = await SuspendResumeAsync(client, job.Id, output, ct);
        await client.CancelJobAsync(job.Id, ct);
        downtimes.Sort();
        var figures = new Dictionary<string, object>
        {
            ["state_mib"] = mib,
            ["transfer_gb_per_s"] = Math.Round(transfer, 3),
            ["downtime_ms_p50"] = downtimes[(downtimes.Count - 1) / 2],
            ["downtime_ms_max"] = downtimes[^1],
            ["migrations"] = downtimes.Count,
            ["suspend_s"] = Math.Round(suspendS, 2),
            ["resume_s"] = Math.Round(resumeS, 2),
        };
        await output.WriteLineAsync(JsonSerializer.Serialize(figures));
        return Cli.Ok;
    }

    /// <summary>
    /// Suspend: the call → SUSPENDED (final checkpoint stored on the node and its peer, agent stopped,
    /// GPUs free). Resume: the call → the agent has loaded its state again (it prints "restored").
    /// </summary>
    private static async Task<(double SuspendS, double ResumeS)> SuspendResumeAsync(SchedulerClient client, string jobId, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await client.SuspendJobAsync(jobId, ct);
        var suspended = await UntilJob(client, jobId, j => j.State == JobState.Suspended || (j.State == JobState.Running && j.CheckpointInProgress.Length == 0), ct);
        var suspendS = clock.Elapsed.TotalSeconds;
        if (suspended.State != JobState.Suspended)
        {
            throw new IOException($"the suspend failed: {suspended.Message}");
        }

        clock.Restart();
        await client.ResumeJobAsync(jobId, ct);
        var running = await UntilJob(client, jobId, j => j.State == JobState.Running, ct);
        await Until(async () => (await client.GetLogsAsync(jobId, LogStream.Stdout, 64 * 1024, running.Attempt, ct)).Data.ToStringUtf8().Contains("restored", StringComparison.Ordinal), ct);
        var resumeS = clock.Elapsed.TotalSeconds;
        await output.WriteLineAsync(
            $"suspend: {suspendS:F2} s (checkpoint {suspended.Checkpoint.Id} on {string.Join(", ", suspended.Checkpoint.Nodes)}, {suspended.Checkpoint.Bytes / (double)(1 << 20):F1} MiB); " +
            $"resume on {running.NodeId}: {resumeS:F2} s to the state loaded ({running.Message})");
        return (suspendS, resumeS);
    }

    /// <summary>Runs the worker's own transfer benchmark (sender and receiver over loopback) and reads its GB/s.</summary>
    private static async Task<double> TransferAsync(int mib, TextWriter output, CancellationToken ct)
    {
        var host = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { LocalCluster.Locate("Scheduler.Worker", "Scheduler.Worker.dll"), "bench-transfer", "--mib", mib.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new IOException("could not start the worker's transfer benchmark");
        var text = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        await output.WriteLineAsync("== " + text.Trim().Replace("\n", "\n   ", StringComparison.Ordinal));
        var match = GbPerSecond().Match(text);
        return process.ExitCode == 0 && match.Success
            ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new IOException($"the transfer benchmark failed (exit {process.ExitCode}): {text}{await process.StandardError.ReadToEndAsync(ct)}");
    }

    private static Task<object> Until(Func<Task<bool>> condition, CancellationToken ct) =>
        Poll.UntilAsync(condition, TimeSpan.FromMinutes(5), "a cluster condition of the migration benchmark", ct);

    private static async Task<Job> UntilJob(SchedulerClient client, string id, Func<Job, bool> condition, CancellationToken ct)
    {
        Job? job = null;
        await Until(async () => condition(job = await client.GetJobAsync(id, ct)), ct);
        return job!;
    }

    [GeneratedRegex(@"= ([0-9.]+) GB/s")]
    private static partial Regex GbPerSecond();
}
