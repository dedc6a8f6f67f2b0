using System.CommandLine;
using Scheduler.Cli.Local;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl up`: a local cluster that runs until Ctrl+C, for trying schedctl against.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var workers = new Option<int>("--workers") { Description = "Worker processes", DefaultValueFactory = _ => 2 };
        var gpus = new Option<int>("--gpus") { Description = "Simulated GPUs per worker", DefaultValueFactory = _ => 4 };
        var dir = new Option<string>("--dir") { Description = "Data and logs", DefaultValueFactory = _ => LocalCluster.DefaultDirectory };
        var port = new Option<int>("--port") { Description = "Master port (0 picks a free one)", DefaultValueFactory = _ => 7070 };
        var command = new Command("up", "Start a local master and workers and keep them running until Ctrl+C") { workers, gpus, dir, port };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var options = new LocalClusterOptions(parse.GetValue(dir)!, parse.GetValue(workers), parse.GetValue(gpus), Port: parse.GetValue(port));
            await using var cluster = await LocalCluster.StartAsync(options, ct);
            await output.WriteLineAsync($"master {cluster.MasterUrl} (pid {cluster.Master.Pid}), {cluster.Workers.Count} workers; logs and data in {cluster.Directory}");
            await output.WriteLineAsync("try: schedctl nodes   schedctl submit --gpus 1 -- /bin/sh -c 'echo $CUDA_VISIBLE_DEVICES'   schedctl jobs");
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
        }));
        return command;
    }
}
