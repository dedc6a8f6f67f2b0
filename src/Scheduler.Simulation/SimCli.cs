using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// `schedctl sim --nodes NODES.csv --tasks TASKS.csv [--policy NAME|all] [--seeds 42-51] [-o json] [--no-time]`:
/// replays a trace through the real Core placement and prints, per policy, allocation at 100% and
/// 130% arrived demand and fragmentation at 100% (means over the seeds), and queueing delay in time.
/// </summary>
public static class SimCli
{
    public const string Usage = "usage: sim --nodes NODES.csv --tasks TASKS.csv [--policy NAME|all] [--seeds 42-51] [-o json] [--no-time]";

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken ct)
    {
        SimArgs parsed;
        try
        {
            parsed = SimArgs.Parse(args);
        }
        catch (FormatException ex)
        {
            await output.WriteLineAsync($"error: {ex.Message}\n{Usage}");
            return 2;
        }

        IReadOnlyList<TraceNode> nodes;
        IReadOnlyList<TraceTask> tasks;
        try
        {
            nodes = TraceReader.ReadNodes(parsed.Nodes);
            tasks = TraceReader.ReadTasks(parsed.Tasks);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            await output.WriteLineAsync($"error: {ex.Message}");
            return 2;
        }

        var policies = parsed.Policy == "all" ? PlacementPolicies.Names : [parsed.Policy];
        var results = new List<ReplayResult>();
        foreach (var policy in policies)
        {
            ct.ThrowIfCancellationRequested();
            results.Add(Evaluator.Evaluate(nodes, tasks, policy, parsed.Seeds, parsed.Timed));
        }

        if (parsed.Json)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(new
            {
                nodes = parsed.Nodes,
                tasks = parsed.Tasks,
                seeds = parsed.Seeds,
                machine = Machine(),
                results = results.Select(r => new
                {
                    policy = r.Policy,
                    alloc100 = Math.Round(r.Alloc100, 2),
                    alloc130 = Math.Round(r.Alloc130, 2),
                    frag100 = Math.Round(r.Frag100, 2),
                    seconds = Math.Round(r.Seconds, 2),
                    queueDelayMeanS = r.Timed is { } t ? Math.Round(t.MeanDelaySeconds, 1) : (double?)null,
                    queueDelayP95S = r.Timed?.P95DelaySeconds,
                    neverPlaced = r.Timed?.NeverPlaced,
                }),
            }));
            return 0;
        }

        var cluster = $"{nodes.Count} nodes, {nodes.Sum(n => n.GpuCount)} GPUs";
        await output.WriteLineAsync($"trace {Path.GetFileName(parsed.Tasks)}: {tasks.Count} tasks on {cluster}; seeds {string.Join(',', parsed.Seeds)}; {Machine()}");
        await output.WriteLineAsync($"{"policy",-16}{"alloc@100%",12}{"alloc@130%",12}{"frag@100%",11}{"wait mean s",13}{"wait p95 s",12}{"seconds",9}");
        foreach (var r in results)
        {
            var mean = r.Timed is { } t ? t.MeanDelaySeconds.ToString("F0", CultureInfo.InvariantCulture) : "-";
            var p95 = r.Timed is { } u ? u.P95DelaySeconds.ToString("F0", CultureInfo.InvariantCulture) : "-";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{r.Policy + (r.Policy == PlacementPolicies.Default ? "*" : ""),-16}{r.Alloc100,12:F2}{r.Alloc130,12:F2}{r.Frag100,11:F2}{mean,13}{p95,12}{r.Seconds,9:F1}"));
        }

        return 0;
    }

    private static string Machine() =>
        $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.FrameworkDescription}";
}
