using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Scheduler.Cli.Bench;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench fanin`: heartbeat fan-in on one master. One worker process hosts N simulated
/// nodes, each its own gRPC stream and node identity, heartbeating at 1 Hz. After every node is
/// ready it watches a bounded window and reports the master's CPU (from /proc/PID/stat) and RSS,
/// the heartbeat processing lag (the master's scheduler.loop.lag histogram: inbox to published
/// view), and the nodes that flapped (suspect, dead or registered again inside the window, from
/// the master's log). It measures; it asserts no timing.
/// </summary>
internal static partial class FanInBench
{
    public static Command Create()
    {
        var nodes = new Option<int>("--nodes") { Description = "Simulated workers, one stream each", DefaultValueFactory = _ => 10_000 };
        var seconds = new Option<int>("--seconds") { Description = "Length of the measured window once all nodes are ready", DefaultValueFactory = _ => 60 };
        var converge = new Option<int>("--converge-timeout-s") { Description = "How long the nodes get to become ready", DefaultValueFactory = _ => 600 };
        var heartbeat = new Option<int>("--heartbeat-ms") { Description = "Heartbeat interval the master hands out", DefaultValueFactory = _ => 1000 };
        var etcd = new Option<bool>("--etcd") { Description = "Store in a local etcd member instead of SQLite" };
        var insecure = new Option<bool>("--insecure") { Description = "Plaintext gRPC without certificates (default: mutual TLS)" };
        var command = new Command("fanin", "Heartbeat fan-in: N simulated workers at 1 Hz on one master; master CPU, RSS, heartbeat lag and flapping nodes")
        {
            nodes, seconds, converge, heartbeat, etcd, insecure,
        };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-fanin-{Environment.ProcessId}");
            try
            {
                return await RunAsync(dir, Math.Max(1, parse.GetValue(nodes)), Math.Max(1, parse.GetValue(seconds)), TimeSpan.FromSeconds(Math.Max(1, parse.GetValue(converge))),
                    Math.Max(10, parse.GetValue(heartbeat)), parse.GetValue(etcd), parse.GetValue(insecure), parse.InvocationConfiguration.Output, ct);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }));
        return command;
    }

    private static async Task<int> RunAsync(string dir, int nodes, int seconds, TimeSpan convergeLimit, int heartbeatMs, bool etcd, bool insecure, TextWriter output, CancellationToken ct)
    {
        var machine = BenchMachine.Current();
        await output.WriteLineAsync(machine.ToString());
        await output.WriteLineAsync($"starting a master ({(etcd ? "etcd" : "sqlite")} store, {(insecure ? "--insecure: plaintext, no certificates" : "mutual TLS")}) and one worker process hosting {nodes} simulated nodes, heartbeat every {heartbeatMs} ms...");
        await using var cluster = await BenchCluster.StartAsync(dir, nodes, etcd, insecure, ct, heartbeatMs: heartbeatMs);
        var converged = await cluster.WaitReadyAsync(nodes, convergeLimit, output, ct);
        var figures = new BenchFigures().Add("bench", "fanin").Add("store", cluster.Store).Add("tls", !insecure).Add("nodes", nodes).Add("heartbeat_ms", heartbeatMs);
        if (converged is not { } took)
        {
            var ready = (await cluster.Client.GetClusterStatusAsync(ct)).NodesReady;
            await output.WriteLineAsync($"NOT converged: {ready}/{nodes} nodes ready after {convergeLimit.TotalSeconds:F0} s; master RSS {Mib(ProcessUsage.Read(cluster.MasterPid)?.RssBytes ?? 0)} MiB");
            figures.Add("converged", false).Add("nodes_ready", ready).Add("converge_s", convergeLimit.TotalSeconds);
            machine.AddTo(figures);
            await output.WriteLineAsync(figures.ToJson());
            return Cli.Error;
        }

        await output.WriteLineAsync($"{nodes} nodes ready after {took.TotalSeconds:F1} s; measuring {seconds} s...");
        var masterLogFrom = new FileInfo(cluster.Cluster.Master.LogPath).Length;
        var workerLogFrom = new FileInfo(cluster.Cluster.Workers[0].LogPath).Length;
        var lagBefore = PrometheusHistogram.Parse(await cluster.ScrapeAsync(ct), LagSeries);
        var masterBefore = ProcessUsage.Read(cluster.MasterPid);
        var workerBefore = ProcessUsage.Read(cluster.WorkerPid);
        var maxRss = 0L;
        var minReady = nodes;
        var window = Stopwatch.StartNew();
        while (window.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(1, seconds)), ct);
            maxRss = Math.Max(maxRss, ProcessUsage.Read(cluster.MasterPid)?.RssBytes ?? 0);
            minReady = Math.Min(minReady, (await cluster.Client.GetClusterStatusAsync(ct)).NodesReady);
        }

        var masterAfter = ProcessUsage.Read(cluster.MasterPid);
        var workerAfter = ProcessUsage.Read(cluster.WorkerPid);
        var lag = PrometheusHistogram.Parse(await cluster.ScrapeAsync(ct), LagSeries).Since(lagBefore);
        var masterCores = masterBefore is { } mb && masterAfter is { } ma ? ma.CoresSince(mb) : 0;
        var workerCores = workerBefore is { } wb && workerAfter is { } wa ? wa.CoresSince(wb) : 0;
        var flapped = FlappedNodes(ReadFrom(cluster.Cluster.Master.LogPath, masterLogFrom));
        var workerLogLines = ReadFrom(cluster.Cluster.Workers[0].LogPath, workerLogFrom).Count(c => c == '\n');

        string F(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
        await output.WriteLineAsync($"master: {F(masterCores * 100)}% of one core, RSS {Mib(masterAfter?.RssBytes ?? 0)} MiB (max {Mib(maxRss)} MiB)");
        await output.WriteLineAsync($"heartbeat processing lag (inbox -> published view, {lag.Count:F0} batches): mean {F(lag.Mean * 1000)} ms, p99 <= {F(lag.Quantile(0.99) * 1000)} ms"
            + (lag.Restarted ? " (the master's lag histogram started again in the window: these count only the batches after that)" : ""));
        await output.WriteLineAsync($"flapping: {flapped} nodes suspect, dead or registered again in the window; fewest ready at once {minReady}/{nodes}");
        await output.WriteLineAsync($"simulation host (not the master): {F(workerCores * 100)}% of one core, {workerLogLines} log lines in the window");
        figures.Add("converged", true)
            .Add("converge_s", took.TotalSeconds)
            .Add("window_s", seconds)
            .Add("master_cpu_cores", masterCores)
            .Add("master_rss_mib", Mib(masterAfter?.RssBytes ?? 0))
            .Add("master_rss_max_mib", Mib(maxRss))
            .Add("lag_mean_ms", lag.Mean * 1000)
            .Add("lag_p99_ms", lag.Quantile(0.99) * 1000)
            .Add("lag_batches", (long)lag.Count)
            .Add("lag_restarted", lag.Restarted)
            .Add("flapped_nodes", flapped)
            .Add("min_ready", minReady)
            .Add("sim_host_cpu_cores", workerCores)
            .Add("sim_host_log_lines", workerLogLines);
        machine.AddTo(figures);
        await output.WriteLineAsync(figures.ToJson());
        return Cli.Ok;
    }

    private const string LagSeries = "scheduler_loop_lag_seconds";

    internal static long Mib(long bytes) => bytes / (1024 * 1024);

    /// <summary>Distinct nodes the master's log shows losing their stream or heartbeats, or registering again.</summary>
    internal static int FlappedNodes(string log) =>
        NodeEvent().Matches(log).Select(m => m.Groups["node"].Value).Distinct(StringComparer.Ordinal).Count();

    private static string ReadFrom(string path, long offset)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        file.Seek(Math.Min(offset, file.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(file);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"Node (?<node>\S+) (registered from|stream \d+ broke|suspect:|dead:)")]
    private static partial Regex NodeEvent();
}
