using System.CommandLine;
using System.Globalization;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl jobs why JOB`: the placement checks a waiting job fails, or where a placed job went and why there.</summary>
internal static class WhyCommand
{
    private static readonly Argument<string> Id = new("job") { Description = "Job id" };

    public static Command Create()
    {
        var command = new Command("why", "Why a job waits (which checks how many nodes failed), or where it went, its score and the runner-up") { Id };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var id = parse.GetValue(Id)!;
            var explanation = await client.ExplainJobAsync(id, ct);
            if (printer.IsJson)
            {
                printer.Message(explanation);
                return Cli.Ok;
            }

            var job = await client.GetJobAsync(id, ct);
            foreach (var line in Format(explanation, job))
            {
                printer.Line(line);
            }

            return Cli.Ok;
        }));
        return command;
    }

    internal static IEnumerable<string> Format(JobExplanation x, Job job)
    {
        var state = Printer.StateName(x.State);
        var placed = x.Placed is not null;
        yield return placed
            ? $"{x.JobId} {state} on {x.Placed!.NodeId}{(x.Reason.Length > 0 ? $": {x.Reason}" : "")}"
            : $"{x.JobId} {state}{(x.Reason.Length > 0 ? $": {x.Reason}" : "")}";
        if (x.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
        {
            yield return "finished: placement no longer applies";
            yield break;
        }

        yield return $"asks {Printer.Describe(job.Spec.Resources)}{Constraints(job.Spec)}{(job.Spec.Replicas > 1 ? $", per replica of {job.Spec.Replicas}" : "")}; policy {x.Policy}";
        if (x.Gang.Length > 0)
        {
            yield return $"gang: {x.Gang}";
        }

        yield return $"nodes: {x.NodesTotal}, fit now: {x.NodesFit}";
        if (placed)
        {
            yield return $"placed:    {x.Placed!.NodeId,-16} {Score(x.Placed.Score)}";
            yield return x.RunnerUp is { } second
                ? $"runner-up: {second.NodeId,-16} {Score(second.Score)}{(second.Score == x.Placed.Score ? " (a tie)" : "")}"
                : "runner-up: none (no other node could take it now)";
        }
        else if (x.RunnerUp is { } best)
        {
            yield return $"best now:  {best.NodeId,-16} {Score(best.Score)}";
        }

        if (x.ScoreNote.Length > 0 && (placed || x.RunnerUp is not null))
        {
            yield return $"({x.ScoreNote})";
        }

        if (x.Failures.Count > 0)
        {
            yield return "";
            yield return $"{"CHECK",-9} {"NODES",5}  {"REASON",-28} NODES";
            foreach (var f in x.Failures)
            {
                var more = f.Nodes > f.NodeIds.Count ? ", ..." : "";
                yield return $"{f.Check,-9} {f.Nodes,5}  {f.Reason,-28} {string.Join(", ", f.NodeIds)}{more}";
            }

            yield return "";
        }

        if (!placed)
        {
            yield return $"quota: {(x.Quota.Length > 0 ? x.Quota : "within quota")}";
        }

        yield return $"reservation: {(x.Reservation.Length > 0 ? x.Reservation : "none")}";
    }

    private static string Constraints(JobSpec spec)
    {
        var parts = new List<string>();
        if (spec.GpuModels.Count > 0)
        {
            parts.Add($"model {string.Join('|', spec.GpuModels)}");
        }

        if (spec.Topology.Length > 0)
        {
            parts.Add($"topology {spec.Topology}");
        }

        if (spec.NodeSelector.Count > 0)
        {
            parts.Add($"on {string.Join(',', spec.NodeSelector.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"))}");
        }

        return parts.Count == 0 ? "" : $" ({string.Join("; ", parts)})";
    }

    private static string Score(double score) =>
        double.IsNaN(score) ? "score n/a (it would not fit there now)" : $"score {score.ToString("0.####", CultureInfo.InvariantCulture)}";
}
