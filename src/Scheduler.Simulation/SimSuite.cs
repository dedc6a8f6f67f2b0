using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>
/// <c>sim --suite DIR</c>: every policy asked for on the twelve workloads of the FGD paper
/// (<see cref="PaperFigures.Workloads"/>, read from <c>DIR/openb_pod_list_*.csv</c> on the GPU nodes
/// of <c>DIR/openb_node_list_gpu_node.csv</c>), printed as one table policy × workload with the
/// paper's figures and our difference to them beside, how the default policy fares against the
/// paper's FGD, and the wall time of each ten-seed run.
/// </summary>
public static class SimSuite
{
    /// <summary>The node list of the paper's experiments, inside the suite folder.</summary>
    public const string NodeFile = "openb_node_list_gpu_node.csv";

    /// <summary>What a suite runs when no --policy is given: both baselines reproduced, and the default.</summary>
    public static IReadOnlyList<string> DefaultPolicies { get; } =
        [PlacementPolicyNames.BestFit, PlacementPolicyNames.BestFitPaper, PlacementPolicyNames.Fgd, PlacementPolicies.Default];

    /// <summary>The task list of <paramref name="workload"/> inside <paramref name="dir"/>.</summary>
    public static string TaskFile(string dir, string workload) => Path.Combine(dir, $"openb_pod_list_{workload}.csv");

    internal static async Task<int> RunAsync(SimOptions options, TextWriter output, CancellationToken ct)
    {
        var dir = options.Suite!;
        IReadOnlyList<TraceNode> nodes;
        var workloads = new List<(string Name, Workload Tasks)>();
        try
        {
            nodes = TraceReader.ReadNodes(Path.Combine(dir, NodeFile));
            foreach (var w in PaperFigures.Workloads)
            {
                workloads.Add((w, new Workload(TraceReader.ReadTasks(TaskFile(dir, w)))));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TraceFormatException)
        {
            await output.WriteLineAsync($"error: {e.Message}".AsMemory(), ct).ConfigureAwait(false);
            return 2;
        }

        var clock = Stopwatch.StartNew();
        var results = new Dictionary<(string Workload, string Policy), PolicyResult>();
        foreach (var (name, workload) in workloads)
        {
            foreach (var policy in options.Policies)
            {
                var result = await Task.Run(() => PolicyEvaluation.Run(nodes, workload, policy, options.Seeds, replayInTime: false, ct), ct).ConfigureAwait(false);
                results[(name, policy)] = result;
            }
        }

        var total = clock.Elapsed.TotalSeconds;
        var text = options.Json
            ? ToJson(options, results, total)
            : ToTable(options, dir, nodes, results, total);
        await output.WriteLineAsync(text.AsMemory(), ct).ConfigureAwait(false);
        return 0;
    }

    private static string ToTable(
        SimOptions options,
        string dir,
        IReadOnlyList<TraceNode> nodes,
        Dictionary<(string Workload, string Policy), PolicyResult> results,
        double total)
    {
        var ws = PaperFigures.Workloads;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}\n");
        sb.Append(inv, $"suite:   {dir} ({ws.Count} workloads on {nodes.Count} nodes, {nodes.Sum(n => n.GpuCount)} GPUs)\n");
        sb.Append(inv, $"seeds:   {options.Seeds.Count} ({string.Join(",", options.Seeds)}); cells: alloc@100% / alloc@130% / frag@100%, in % of GPU capacity, means over seeds\n\n");
        sb.Append("| policy | ").Append(string.Join(" | ", ws)).Append(" |\n");
        sb.Append("| --- |").Append(string.Concat(Enumerable.Repeat(" --- |", ws.Count))).Append('\n');
        var shownPaper = new HashSet<string>(StringComparer.Ordinal);
        foreach (var policy in options.Policies)
        {
            var label = policy == PlacementPolicies.Default ? $"**{policy} (default)**" : policy;
            Row(label, w => Cell(results[(w, policy)]));
            if (ws.All(w => PaperFigures.ForOurs(w, policy) is not null))
            {
                var paperName = PaperFigures.Policies.First(p => p.Ours == policy).Paper;
                shownPaper.Add(paperName);
                Row($"paper's {paperName}", w => Cell(PaperFigures.ForOurs(w, policy)!.Value));
                Row($"{policy} − paper", w =>
                {
                    var ours = results[(w, policy)];
                    var paper = PaperFigures.ForOurs(w, policy)!.Value;
                    return $"{Signed(ours.Alloc100 - paper.Alloc100)} / {Signed(ours.Alloc130 - paper.Alloc130)} / {Signed(ours.Frag100 - paper.Frag100)}";
                });
            }
        }

        if (!shownPaper.Contains("FGD"))
        {
            Row("paper's FGD", w => Cell(PaperFigures.For(w, "FGD")!.Value));
        }

        sb.Append('\n');
        if (options.Policies.Contains(PlacementPolicies.Default))
        {
            var margins = ws.Select(w => (Workload: w, Margin: results[(w, PlacementPolicies.Default)].Alloc100 - PaperFigures.For(w, "FGD")!.Value.Alloc100)).ToList();
            var wins = margins.Count(m => m.Margin > 0);
            var worst = margins.MinBy(m => m.Margin);
            sb.Append(inv, $"default ({PlacementPolicies.Default}) vs the paper's FGD at 100%: above on {wins} of {ws.Count} workloads; smallest margin {Signed(worst.Margin)} ({worst.Workload}), mean {Signed(margins.Average(m => m.Margin))}\n");
        }

        var runs = results.Values.Select(r => r.Seconds).ToList();
        sb.Append(inv, $"time:    one {options.Seeds.Count}-seed run (one policy, one workload) {runs.Min():F1}-{runs.Max():F1} s, mean {runs.Average():F1} s; whole table {total:F1} s");
        foreach (var policy in options.Policies)
        {
            var perPolicy = ws.Select(w => results[(w, policy)].Seconds).ToList();
            sb.Append(inv, $"\n         {policy,-16} mean {perPolicy.Average():F1} s, max {perPolicy.Max():F1} s per workload");
        }

        return sb.ToString();

        void Row(string label, Func<string, string> cell)
        {
            sb.Append("| ").Append(label).Append(" | ").Append(string.Join(" | ", ws.Select(cell))).Append(" |\n");
        }
    }

    // Two decimals with a sign; a difference that rounds to zero reads +0.00, never -0.00.
    private static string Signed(double value)
    {
        var rounded = Math.Round(value, 2);
        return rounded == 0 ? "+0.00" : rounded.ToString("+0.00;-0.00", CultureInfo.InvariantCulture);
    }

    private static string Cell(PolicyResult r) => string.Create(CultureInfo.InvariantCulture, $"{r.Alloc100:F2} / {r.Alloc130:F2} / {r.Frag100:F2}");

    private static string Cell(PaperFigure p) => string.Create(CultureInfo.InvariantCulture, $"{p.Alloc100:F2} / {p.Alloc130:F2} / {p.Frag100:F2}");

    private static string ToJson(SimOptions options, Dictionary<(string Workload, string Policy), PolicyResult> results, double total)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("seeds", options.Seeds.Count);
            w.WriteNumber("seconds", Math.Round(total, 3));
            w.WriteStartArray("results");
            foreach (var workload in PaperFigures.Workloads)
            {
                foreach (var policy in options.Policies)
                {
                    var r = results[(workload, policy)];
                    w.WriteStartObject();
                    w.WriteString("workload", workload);
                    w.WriteString("policy", r.Policy);
                    w.WriteNumber("alloc100", Math.Round(r.Alloc100, 3));
                    w.WriteNumber("alloc130", Math.Round(r.Alloc130, 3));
                    w.WriteNumber("frag100", Math.Round(r.Frag100, 3));
                    w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
                    if (PaperFigures.ForOurs(workload, policy) is { } paper)
                    {
                        w.WriteStartObject("paper");
                        w.WriteNumber("alloc100", paper.Alloc100);
                        w.WriteNumber("alloc130", paper.Alloc130);
                        w.WriteNumber("frag100", paper.Frag100);
                        w.WriteEndObject();
                    }

                    w.WriteNumber("paperFgdAlloc100", PaperFigures.For(workload, "FGD")!.Value.Alloc100);
                    w.WriteEndObject();
                }
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
