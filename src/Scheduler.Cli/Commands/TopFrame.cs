using System.Globalization;
using System.Text;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// One frame of `schedctl top`: the cluster line, then each node with its GPUs beneath it, like
/// nvidia-smi for the whole cluster. Plain ASCII in fixed columns that fit 80, so it reads the same
/// over SSH, in a log and in a test; every line is cut to the width it is given.
/// </summary>
internal static class TopFrame
{
    public const int MinWidth = 40;
    private const int BarCells = 10;
    private static readonly string[] ShownStates = ["RUNNING", "ASSIGNED", "PENDING"];

    public static IReadOnlyList<string> Render(ClusterStatus status, IReadOnlyList<Node> nodes, DateTimeOffset now, int width)
    {
        width = Math.Max(MinWidth, width);
        var lines = new List<string>
        {
            Invariant($"schedctl top  {now:HH:mm:ss}  leader {status.Leader?.MasterId} (epoch {status.Leader?.Epoch})  nodes {status.NodesReady}/{status.NodesTotal} ready"),
            Invariant($"GPUs {status.GpusTotal}, {status.GpuAllocationPercent:F0}% allocated  jobs: {Jobs(status)}"),
            "",
            Invariant($"{"NODE",-16} {"STATE",-9} {"CPU (cores)",-12} {"MEM",-14} {"GPUS USED",-9} JOBS"),
            Invariant($"  {"#",2} {"MODEL",-10} {"UTIL",-17} {"MEM",-12} {"TEMP",4} {"POWER",5} JOBS"),
        };

        foreach (var node in nodes)
        {
            var usedGpus = node.Gpus.Count(g => g.FreeMilli < 1000);
            lines.Add(Invariant($"{Fit(node.Id, 16),-16} {State(node),-9} {Cores(node),-12} {Mib(node.Capacity.MemoryMib - node.Free.MemoryMib, node.Capacity.MemoryMib),-14} {$"{usedGpus}/{node.Gpus.Count}",-9} {node.JobIds.Count}"));
            foreach (var gpu in node.Gpus)
            {
                var t = gpu.Telemetry;
                var util = (int)Math.Min(100, t?.UtilizationPercent ?? 0);
                var total = t is { MemoryTotalMib: > 0 } ? t.MemoryTotalMib : gpu.Info.MemoryMib;
                var temp = t is null ? "-" : Invariant($"{t.TemperatureC}C");
                var power = t is null ? "-" : Invariant($"{t.PowerMw / 1000}W");
                lines.Add(Invariant($"  {gpu.Info.Index,2} {Fit(Model(gpu.Info.Model), 10),-10} {Bar(util)} {util,4}% {Mib(t?.MemoryUsedMib ?? 0, total),-12} {temp,4} {power,5} {string.Join(',', gpu.JobIds)}"));
            }
        }

        if (nodes.Count == 0)
        {
            lines.Add("(no nodes registered)");
        }

        return [.. lines.Select(l => Fit(l.TrimEnd(), width))];
    }

    private static string Jobs(ClusterStatus status)
    {
        var shown = ShownStates.Select(s => Invariant($"{s.ToLowerInvariant()} {status.JobsByState.GetValueOrDefault(s)}"));
        return string.Join("  ", shown);
    }

    private static string State(Node node)
    {
        var health = node.Health switch
        {
            NodeHealth.Ready => "READY",
            NodeHealth.Suspect => "SUSPECT",
            NodeHealth.Dead => "DEAD",
            NodeHealth.Leaving => "LEAVING",
            _ => "?",
        };
        return node.Draining ? "DRAINING" : node.Cordoned ? health + ",C" : health;
    }

    private static string Cores(Node node) =>
        Invariant($"{(node.Capacity.CpuMillis - node.Free.CpuMillis) / 1000.0:0.#}/{node.Capacity.CpuMillis / 1000.0:0.#}");

    private static string Mib(long used, long total) => Invariant($"{used / 1024.0:0.0}/{total / 1024.0:0.0}G");

    // "NVIDIA H100 80GB HBM3" says the same in fewer columns as "H100 80GB HBM3".
    private static string Model(string model) =>
        model.StartsWith("NVIDIA ", StringComparison.OrdinalIgnoreCase) ? model[7..] : model;

    private static string Bar(int percent)
    {
        var filled = (percent * BarCells + 50) / 100;
        var bar = new StringBuilder("[", BarCells + 2);
        bar.Append('#', filled).Append('.', BarCells - filled).Append(']');
        return bar.ToString();
    }

    private static string Fit(string text, int width) =>
        text.Length <= width ? text : string.Concat(text.AsSpan(0, width - 1), "~");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
