using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// <c>sim --nodes NODES.csv --tasks TASKS.csv [--policy NAME|all] [--seeds 42-51] [-o json] [--no-time]</c>:
/// replays a trace through every named placement policy and prints a table, or one JSON object.
/// <c>sim --suite DIR</c> replays the twelve workloads of the FGD paper found in DIR (see
/// <see cref="SimSuite"/>) and prints them side by side with the paper's figures.
/// </summary>
public static class SimCli
{
    public const string Usage =
        "usage: sim --nodes NODES.csv --tasks TASKS.csv [--policy NAME|all] [--seeds 42-51] [-o table|json] [--no-time]\n"
        + "       sim --suite DIR [--policy NAME,...|all] [--seeds 42-51] [-o table|json]   (the twelve workloads of the FGD paper, with its figures)";

    /// <summary>Runs the command (arguments without the leading "sim"); returns the exit code (0 ok, 2 usage or input error).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        if (args.Any(a => a is "-h" or "--help"))
        {
            await output.WriteLineAsync(Usage.AsMemory(), ct).ConfigureAwait(false);
            await output.WriteLineAsync($"policies: {string.Join(", ", PlacementPolicies.Names)} (default {PlacementPolicies.Default})".AsMemory(), ct).ConfigureAwait(false);
            return 0;
        }

        if (!SimOptions.TryParse(args, out var options, out var error))
        {
            await output.WriteLineAsync($"error: {error}\n{Usage}".AsMemory(), ct).ConfigureAwait(false);
            return 2;
        }

        if (options.Suite is not null)
        {
            return await SimSuite.RunAsync(options, output, ct).ConfigureAwait(false);
        }

        IReadOnlyList<TraceNode> nodes;
        Workload workload;
        try
        {
            nodes = TraceReader.ReadNodes(options.Nodes);
            workload = new Workload(TraceReader.ReadTasks(options.Tasks));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TraceFormatException)
        {
            await output.WriteLineAsync($"error: {e.Message}".AsMemory(), ct).ConfigureAwait(false);
            return 2;
        }

        var json = options.Json;
        if (!json)
        {
            await output.WriteLineAsync(Header(options, nodes, workload).AsMemory(), ct).ConfigureAwait(false);
        }

        var results = new List<PolicyResult>();
        var clock = Stopwatch.StartNew();
        foreach (var policy in options.Policies)
        {
            var result = await Task.Run(() => PolicyEvaluation.Run(nodes, workload, policy, options.Seeds, options.ReplayInTime, ct), ct).ConfigureAwait(false);
            results.Add(result);
            if (!json)
            {
                await output.WriteLineAsync(Row(result).AsMemory(), ct).ConfigureAwait(false);
            }
        }

        if (json)
        {
            await output.WriteLineAsync(ToJson(results).AsMemory(), ct).ConfigureAwait(false);
        }
        else
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"total {clock.Elapsed.TotalSeconds:F1} s").AsMemory(), ct).ConfigureAwait(false);
        }

        return 0;
    }

    private static string Header(SimOptions options, IReadOnlyList<TraceNode> nodes, Workload workload)
    {
        var gpus = nodes.Sum(n => n.GpuCount);
        var seeds = options.Seeds;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}\n");
        sb.Append(CultureInfo.InvariantCulture, $"nodes:   {options.Nodes} ({nodes.Count} nodes, {gpus} GPUs)\n");
        sb.Append(CultureInfo.InvariantCulture, $"tasks:   {options.Tasks} ({workload.Tasks.Count} tasks, {workload.Distribution.Typical.Count} typical shapes)\n");
        sb.Append(CultureInfo.InvariantCulture, $"seeds:   {seeds.Count} ({string.Join(",", seeds)}); allocation and frag in % of GPU capacity, means over seeds\n");
        sb.Append(CultureInfo.InvariantCulture, $"{"policy",-16}{"alloc@100%",11}{"alloc@130%",11}{"frag@100%",10}{"wait mean s",12}{"wait p95 s",11}{"unstarted",10}{"seconds",9}");
        return sb.ToString();
    }

    private static string Row(PolicyResult r)
    {
        var t = r.Time;
        var wait = t is { } x
            ? string.Create(CultureInfo.InvariantCulture, $"{x.MeanDelaySeconds,12:F1}{x.P95DelaySeconds,11:F1}{x.NeverStarted,10}")
            : $"{"-",12}{"-",11}{"-",10}";
        return string.Create(CultureInfo.InvariantCulture, $"{r.Policy,-16}{r.Alloc100,11:F2}{r.Alloc130,11:F2}{r.Frag100,10:F2}{wait}{r.Seconds,9:F2}");
    }

    private static string ToJson(IReadOnlyList<PolicyResult> results)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("policy", r.Policy);
                w.WriteNumber("alloc100", Math.Round(r.Alloc100, 3));
                w.WriteNumber("alloc130", Math.Round(r.Alloc130, 3));
                w.WriteNumber("frag100", Math.Round(r.Frag100, 3));
                w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
                if (r.Time is { } t)
                {
                    w.WriteNumber("waitMeanSeconds", Math.Round(t.MeanDelaySeconds, 3));
                    w.WriteNumber("waitP95Seconds", Math.Round(t.P95DelaySeconds, 3));
                    w.WriteNumber("neverStarted", t.NeverStarted);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
