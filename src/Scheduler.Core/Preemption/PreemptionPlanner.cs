using Scheduler.Core.Cluster;
using Scheduler.Core.Queueing;

namespace Scheduler.Core.Preemption;

/// <summary>
/// For a job that fits nowhere, finds one node and the fewest, then cheapest, lower-priority jobs
/// to evict there so that it fits. Exact (smallest sets first) up to a search budget per node,
/// greedy beyond it. Gang replicas are never chosen: evicting one would stop the whole gang.
/// </summary>
public sealed class PreemptionPlanner
{
    private readonly PreemptionOptions _options;

    /// <summary>Creates a planner with the per-class rules in <paramref name="options"/>.</summary>
    public PreemptionPlanner(PreemptionOptions options) => _options = options;

    /// <summary>The rules this planner applies.</summary>
    public PreemptionOptions Options => _options;

    /// <summary>True when <paramref name="job"/>'s priority class allows it to preempt at all.</summary>
    public bool MayPreempt(QueuedJob job) => job.Priority >= _options.MinPreemptorPriority && job.GangId is null;

    /// <summary>
    /// The best plan for <paramref name="job"/>, or null when no allowed set of victims on any one
    /// node makes room. Jobs in <paramref name="excluded"/> (already promised to another plan) and
    /// allocations with no entry in <paramref name="running"/> are never victims.
    /// </summary>
    public PreemptionPlan? Plan(
        QueuedJob job,
        IEnumerable<NodeState> nodes,
        IReadOnlyDictionary<string, RunningJob> running,
        DateTimeOffset now,
        IReadOnlySet<string>? excluded = null)
    {
        if (!MayPreempt(job))
        {
            return null;
        }

        PreemptionPlan? best = null;
        foreach (var node in nodes.OrderBy(n => n.Id, StringComparer.Ordinal))
        {
            if (!NodeScratch.Eligible(node, job.Demand))
            {
                continue;
            }

            var candidates = Candidates(job, node, running, now, excluded);
            var maxVictims = Math.Min(_options.MaxVictims, best?.Victims.Count ?? int.MaxValue);
            if (candidates.Count == 0 || maxVictims <= 0)
            {
                continue;
            }

            var plan = PlanOnNode(job, node, candidates, maxVictims);
            if (plan is not null && (best is null || Better(plan, best)))
            {
                best = plan;
            }
        }

        return best;
    }

    private List<Candidate> Candidates(
        QueuedJob job,
        NodeState node,
        IReadOnlyDictionary<string, RunningJob> running,
        DateTimeOffset now,
        IReadOnlySet<string>? excluded)
    {
        var list = new List<Candidate>();
        foreach (var allocation in node.Allocations.Values)
        {
            if (!running.TryGetValue(allocation.JobId, out var victim) ||
                victim.Priority >= job.Priority ||
                victim.Priority >= _options.ProtectedFromPriority ||
                victim.GangId is not null ||
                (excluded?.Contains(allocation.JobId) ?? false))
            {
                continue;
            }

            var r = allocation.Resources;
            var share = Fraction(r.CpuMillis, node.CpuCapacity) + Fraction(r.MemoryMib, node.MemoryCapacity) +
                        Fraction(r.TotalGpuMilli, node.GpuCapacityMilli);
            var lost = victim.Checkpointable || now <= victim.StartedAt ? 0 : (now - victim.StartedAt).TotalSeconds;
            list.Add(new Candidate(allocation, new VictimCost(victim.Priority, share, lost)));
        }

        // Cheapest first, so that among equal-sized sets the first found is usually the cheapest
        // and the greedy fallback takes cheap victims first.
        list.Sort(static (a, b) =>
        {
            var c = a.Cost.CompareTo(b.Cost);
            return c != 0 ? c : string.CompareOrdinal(a.Allocation.JobId, b.Allocation.JobId);
        });
        return list;
    }

    private PreemptionPlan? PlanOnNode(QueuedJob job, NodeState node, List<Candidate> candidates, int maxVictims)
    {
        var all = new NodeScratch(node);
        foreach (var c in candidates)
        {
            all.Release(c.Allocation);
        }

        if (!all.Fits(job.Demand))
        {
            return null;
        }

        var budget = _options.SearchBudgetPerNode;
        var indexes = new int[Math.Min(maxVictims, candidates.Count)];
        for (var k = 1; k <= indexes.Length; k++)
        {
            int[]? bestSet = null;
            var bestCost = default(VictimCost);
            for (var i = 0; i < k; i++)
            {
                indexes[i] = i;
            }

            while (true)
            {
                if (--budget < 0)
                {
                    return Greedy(job, node, candidates, maxVictims);
                }

                var scratch = new NodeScratch(node);
                var cost = default(VictimCost);
                for (var i = 0; i < k; i++)
                {
                    scratch.Release(candidates[indexes[i]].Allocation);
                    cost += candidates[indexes[i]].Cost;
                }

                if (scratch.Fits(job.Demand) && (bestSet is null || cost < bestCost))
                {
                    bestSet = indexes[..k];
                    bestCost = cost;
                }

                if (!NextCombination(indexes, k, candidates.Count))
                {
                    break;
                }
            }

            if (bestSet is not null)
            {
                return new PreemptionPlan(job.JobId, node.Id, bestSet.Select(i => candidates[i].Allocation.JobId).ToArray(), bestCost);
            }
        }

        return null;
    }

    private static PreemptionPlan? Greedy(QueuedJob job, NodeState node, List<Candidate> candidates, int maxVictims)
    {
        var scratch = new NodeScratch(node);
        var chosen = new List<Candidate>();
        foreach (var c in candidates)
        {
            if (scratch.Fits(job.Demand))
            {
                break;
            }

            scratch.Release(c.Allocation);
            chosen.Add(c);
        }

        // Give back, most expensive first, every victim the job turns out not to need.
        for (var i = chosen.Count - 1; i >= 0; i--)
        {
            scratch.Take(chosen[i].Allocation);
            if (scratch.Fits(job.Demand))
            {
                chosen.RemoveAt(i);
            }
            else
            {
                scratch.Release(chosen[i].Allocation);
            }
        }

        if (chosen.Count > maxVictims || !scratch.Fits(job.Demand))
        {
            return null;
        }

        var cost = default(VictimCost);
        foreach (var c in chosen)
        {
            cost += c.Cost;
        }

        return new PreemptionPlan(job.JobId, node.Id, chosen.ConvertAll(c => c.Allocation.JobId), cost);
    }

    private static bool NextCombination(int[] indexes, int k, int n)
    {
        var i = k - 1;
        while (i >= 0 && indexes[i] == n - k + i)
        {
            i--;
        }

        if (i < 0)
        {
            return false;
        }

        indexes[i]++;
        for (var j = i + 1; j < k; j++)
        {
            indexes[j] = indexes[j - 1] + 1;
        }

        return true;
    }

    private static bool Better(PreemptionPlan a, PreemptionPlan b)
    {
        var c = a.Victims.Count.CompareTo(b.Victims.Count);
        return c != 0 ? c < 0 : a.Cost < b.Cost;
    }

    private static double Fraction(long used, long capacity) => capacity <= 0 ? 0 : (double)used / capacity;

    private readonly record struct Candidate(Allocation Allocation, VictimCost Cost);
}
