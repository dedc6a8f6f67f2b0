using System.CommandLine;
using Scheduler.Cli.Local;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl up [--ha]`: a local cluster that runs until Ctrl+C, for trying schedctl against.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var workers = new Option<int>("--workers") { Description = "Worker processes", DefaultValueFactory = _ => 2 };
        var gpus = new Option<int>("--gpus") { Description = "Simulated GPUs per worker", DefaultValueFactory = _ => 4 };
        var dir = new Option<string>("--dir") { Description = "Data and logs", DefaultValueFactory = _ => LocalCluster.DefaultDirectory };
        var port = new Option<int>("--port") { Description = "Master port (0 picks a free one; not with --ha, whose ports are all free ones)", DefaultValueFactory = _ => 7070 };
        var ha = new Option<bool>("--ha") { Description = "Three etcd members and three masters electing a leader; processes listed in DIR/cluster.json" };
        var metrics = new Option<string>("--metrics-listen")
        {
            Description = "HOST:PORT of the master's Prometheus /metrics (0 picks a free port); each worker serves its own on HOST and a free port (DIR/NODE/metrics.addr)",
            DefaultValueFactory = _ => "",
        };
        var statusPort = new Option<int>("--status-port") { Description = "Port of the master's status page on 127.0.0.1 (0 picks a free one; -1: no page; not with --ha)", DefaultValueFactory = _ => 0 };
        var auth = new Option<bool>("--auth")
        {
            Description = "Start the master with --auth: its admin token is written to DIR/admin.token (schedctl uses the default folder's by itself), workers get a worker token; not with --ha",
        };
        var command = new Command("up", "Start a local master and workers and keep them running until Ctrl+C") { workers, gpus, dir, port, ha, metrics, statusPort, auth };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(ha) && parse.GetValue(auth))
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("error: --auth does not work with --ha yet (start the masters with --auth and --bootstrap-token-file yourself)");
                return Cli.Error;
            }

            if (parse.GetValue(ha))
            {
                var haOptions = new LocalHaClusterOptions(parse.GetValue(dir)!, parse.GetValue(workers), parse.GetValue(gpus), Insecure: DemoCommand.Insecure(parse));
                await using var haCluster = await LocalHaCluster.StartAsync(haOptions, ct);
                foreach (var process in haCluster.Processes)
                {
                    await output.WriteLineAsync($"{process.Role,-6} {process.Id,-9} {(process.Address.Length > 0 ? process.Address : "-"),-22} pid {process.Pid}");
                }

                await output.WriteLineAsync($"logs and data in {haCluster.Directory}; processes in");
                await output.WriteLineAsync(haCluster.ManifestPath);
                await PrintTlsAsync(output, haCluster.Certificates);
                await output.WriteLineAsync("try: schedctl leader -o json   schedctl nodes   schedctl submit -- /bin/sh -c 'echo hi'");
                return await RunUntilCancelledAsync(output, ct);
            }

            var http = parse.GetValue(statusPort) is >= 0 and var p ? $"127.0.0.1:{p}" : null;
            var options = new LocalClusterOptions(parse.GetValue(dir)!, parse.GetValue(workers), parse.GetValue(gpus), Port: parse.GetValue(port), MetricsListen: parse.GetValue(metrics)!, HttpListen: http, Auth: parse.GetValue(auth), Insecure: DemoCommand.Insecure(parse));
            await using var cluster = await LocalCluster.StartAsync(options, ct);
            await output.WriteLineAsync($"master {cluster.MasterUrl} (pid {cluster.Master.Pid}), {cluster.Workers.Count} workers; logs and data in {cluster.Directory}");
            if (http is not null && await cluster.StatusUrlAsync(ct) is { } statusUrl)
            {
                await output.WriteLineAsync($"status page {statusUrl}");
            }

            if (options.MetricsListen.Length > 0)
            {
                await output.WriteLineAsync($"metrics: master {cluster.MasterMetricsUrl ?? Path.Combine(cluster.Directory, "master", "metrics.addr")}; workers' addresses in {Path.Combine(cluster.Directory, "<node>", "metrics.addr")}");
            }

            if (cluster.AdminToken is not null)
            {
                await output.WriteLineAsync($"auth on: admin token in {Path.Combine(cluster.Directory, Cli.TokenFileName)} (schedctl --token, or env SCHED_TOKEN, from another folder); schedctl tokens create --role submitter --tenant T --name N");
            }

            await PrintTlsAsync(output, cluster.Certificates);
            await output.WriteLineAsync("try: schedctl nodes   schedctl submit --gpus 1 -- /bin/sh -c 'echo $CUDA_VISIBLE_DEVICES'   schedctl jobs");
            return await RunUntilCancelledAsync(output, ct);
        }));
        return command;
    }

    /// <summary>Where the cluster's CA and schedctl's certificate are (schedctl finds them by itself under the default --dir).</summary>
    private static async Task PrintTlsAsync(TextWriter output, LocalCertificates? certificates)
    {
        if (certificates is not null)
        {
            await output.WriteLineAsync(
                $"TLS: CA {certificates.CaPath}; schedctl needs --ca {certificates.CaPath} --cert {LocalCertificates.ClientCertificatePath(certificates.Directory)} "
                + $"--key {LocalCertificates.ClientKeyPath(certificates.Directory)} unless run where the default --dir {LocalCluster.DefaultDirectory} is");
        }
    }

    private static async Task<int> RunUntilCancelledAsync(TextWriter output, CancellationToken ct)
    {
        await output.WriteLineAsync($"Ctrl+C (or SIGTERM to pid {Environment.ProcessId}) stops the cluster.");
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
        }

        await output.WriteLineAsync("stopping...");
        return Cli.Ok;
    }
}
