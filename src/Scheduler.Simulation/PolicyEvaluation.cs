using System.Diagnostics;

namespace Scheduler.Simulation;

/// <summary>Evaluates a policy over several seeds (in parallel: seeds share nothing mutable).</summary>
public static class PolicyEvaluation
{
    /// <summary>
    /// Runs the allocation protocol for every seed and, when <paramref name="replayInTime"/>, one
    /// replay in time with the first seed; returns the means.
    /// </summary>
    public static PolicyResult Run(
        IReadOnlyList<TraceNode> nodes,
        Workload workload,
        string policy,
        IReadOnlyList<int> seeds,
        bool replayInTime,
        CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfZero(seeds.Count);
        var clock = Stopwatch.StartNew();
        var perSeed = new ReplayResult[seeds.Count];
        TimeReplayResult? time = null;
        var jobs = seeds.Count + (replayInTime ? 1 : 0);
        Parallel.For(
            0,
            jobs,
            new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount },
            j =>
            {
                if (j < seeds.Count)
                {
                    perSeed[j] = AllocationReplay.Run(nodes, workload, policy, seeds[j]);
                }
                else
                {
                    time = TimeReplay.Run(nodes, workload, policy, seeds[0]);
                }
            });

        double a100 = 0, a130 = 0, f100 = 0;
        foreach (var r in perSeed)
        {
            a100 += r.Alloc100;
            a130 += r.Alloc130;
            f100 += r.Frag100;
        }

        var n = perSeed.Length;
        return new PolicyResult(policy, a100 / n, a130 / n, f100 / n, perSeed, time, clock.Elapsed.TotalSeconds);
    }
}
