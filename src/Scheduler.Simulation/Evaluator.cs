using System.Diagnostics;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>Runs one policy over the seeds (in parallel, each run with its own policy instance) plus one replay in time.</summary>
public static class Evaluator
{
    public static ReplayResult Evaluate(
        IReadOnlyList<TraceNode> nodes,
        IReadOnlyList<TraceTask> tasks,
        string policy,
        IReadOnlyList<int> seeds,
        bool timed)
    {
        var clock = Stopwatch.StartNew();

        // The workload's typical tasks, as the paper's FGD and fragmentation measure use them.
        var workload = TaskDistribution.FromDemands(tasks.Select((t, i) => t.Demand($"w{i}")));
        var runs = new (double Alloc100, double Alloc130, double Frag100)[seeds.Count];
        Parallel.For(0, seeds.Count, i => runs[i] = ArrivalReplay.Run(nodes, tasks, policy, seeds[i], workload));
        var time = timed ? TimeReplay.Run(nodes, tasks, policy, seeds.Count > 0 ? seeds[0] : 42, workload) : null;
        return new ReplayResult(
            policy,
            runs.Average(r => r.Alloc100),
            runs.Average(r => r.Alloc130),
            runs.Average(r => r.Frag100),
            clock.Elapsed.TotalSeconds,
            seeds.Count,
            time);
    }
}
