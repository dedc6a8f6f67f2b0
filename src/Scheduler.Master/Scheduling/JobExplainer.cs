using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using Scheduler.Core.Fairness;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Answers `jobs why`: runs the placement filter and the policy over the nodes for one job and groups
/// what failed by check. A placed job's score and runner-up are recomputed against the nodes as they
/// are now with the job's own allocation (every replica of a gang) released on a copy of its node: recording them at placement
/// would cost every placement (the engine scores one node per equivalence class and keeps no runner-up)
/// and would not survive a failover, while recomputing costs only when someone asks. Loop thread only:
/// the engine reuses scratch buffers and the nodes are the loop's.
/// </summary>
internal sealed class JobExplainer
{
    private const int NodesNamed = 5;
    private const int TopScores = 5;
    private readonly PlacementEngine _engine;
    private readonly TenantQuotas _quotas;

    public JobExplainer(PlacementEngine engine, TenantQuotas quotas)
    {
        _engine = engine;
        _quotas = quotas;
    }

    /// <param name="tenantUsage">What the job's tenant holds now (the job's own allocation excluded).</param>
    /// <param name="reservation">The backfill reservation of the last scheduling pass, if any.</param>
    public JobExplanation Explain(JobRecord job, string tenant, IReadOnlyCollection<NodeState> nodes, ResourceTotals tenantUsage, Reservation? reservation)
    {
        var explanation = new JobExplanation
        {
            JobId = job.Id,
            State = job.State,
            Reason = job.State == JobState.Pending ? job.PendingReason : job.Message,
            Policy = _engine.Policy.Name,
            NodesTotal = nodes.Count,
        };
        if (job.IsTerminal)
        {
            return explanation;
        }

        var demand = ProtoMapping.ToDemand(job);
        var placedOn = job.HoldsAllocation ? job.NodeId : null;

        // What the job holds is set aside on a copy of each node that holds it: its one allocation, or
        // every replica of a gang (so rank 0's node is scored as it was before the gang took it).
        var held = GangMembers.HeldAllocations(job)
            .GroupBy(h => h.NodeId, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyCollection<string>)[.. g.Select(h => h.AllocationId)], StringComparer.Ordinal);
        var considered = placedOn is null || held.Count == 0
            ? nodes
            : [.. nodes.Select(n => held.TryGetValue(n.Id, out var ids) ? n.CopyWithout(ids) : n)];
        var verdicts = _engine.Explain(demand, considered);

        explanation.NodesFit = verdicts.Count(v => v.Fits);
        foreach (var group in verdicts
            .Where(v => !v.Fits)
            .GroupBy(v => v.Rejection!, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            var failure = new NodeCheckFailure { Check = PlacementChecks.Of(group.Key), Reason = group.Key, Nodes = group.Count() };
            failure.NodeIds.Add(group.Select(v => v.NodeId).Take(NodesNamed));
            explanation.Failures.Add(failure);
        }

        var ranked = verdicts.Where(v => v.Fits).OrderByDescending(v => v.Score).ThenBy(v => v.NodeId, StringComparer.Ordinal).ToList();
        explanation.Top.Add(ranked.Take(TopScores).Select(Score));
        if (placedOn is not null)
        {
            explanation.Placed = verdicts.FirstOrDefault(v => v.NodeId == placedOn) is { Fits: true } own
                ? Score(own)
                : new NodeScore { NodeId = placedOn, Score = double.NaN };
            if (ranked.FirstOrDefault(v => v.NodeId != placedOn) is { } second)
            {
                explanation.RunnerUp = Score(second);
            }

            explanation.ScoreNote = job.IsGang
                ? "scores recomputed now against the current nodes for one replica, with every replica of this gang released hypothetically"
                : "scores recomputed now against the current nodes, with this job's own allocation released hypothetically";
        }
        else
        {
            if (ranked.Count > 0)
            {
                explanation.RunnerUp = Score(ranked[0]);
            }

            explanation.ScoreNote = "scores computed now against the current nodes";
            var asked = ResourceTotals.Zero;
            for (var i = 0; i < job.Size; i++)
            {
                asked += ResourceTotals.Of(demand.Resources);
            }

            explanation.Quota = _quotas.Check(tenant, tenantUsage, asked) ?? "";
        }

        if (job.IsGang)
        {
            explanation.Gang = Gang(job, demand, nodes);
        }

        explanation.Reservation = Describe(reservation, job);
        return explanation;
    }

    // A waiting gang: how much of it fits now, placed as a pass would; a placed one: where its replicas are.
    private string Gang(JobRecord job, JobDemand demand, IReadOnlyCollection<NodeState> nodes)
    {
        if (job.HoldsAllocation)
        {
            var where = job.Replicas.Where(r => r.Holds).GroupBy(r => r.NodeId, StringComparer.Ordinal)
                .Select(g => $"{g.Key}: {g.Count()}");
            return $"{job.Size} replicas × {GangJobs.Size(demand)}, placed whole ({string.Join(", ", where)})";
        }

        var feasible = GangJobs.Feasible(_engine, demand, job.Size, [.. nodes]);
        var perNode = feasible.PerNode.Select(p => (p.NodeId, p.Replicas)).ToList();
        return feasible.Fits
            ? $"{job.Size} replicas × {GangJobs.Size(demand)}: the whole gang fits now ({string.Join(", ", perNode.Select(p => $"{p.NodeId}: {p.Replicas}"))})"
            : GangJobs.Shortfall(demand, job.Size, feasible.Fit, perNode);
    }

    private static NodeScore Score(PlacementVerdict verdict) => new() { NodeId = verdict.NodeId, Score = verdict.Score };

    private static string Describe(Reservation? reservation, JobRecord job)
    {
        if (reservation is null)
        {
            return "";
        }

        var at = reservation.At.ToString("O", CultureInfo.InvariantCulture);
        if (reservation.JobId == job.Id)
        {
            return $"this job holds the backfill reservation on {reservation.NodeId} from {at}";
        }

        return job.State == JobState.Pending && job.PendingReason.StartsWith("would delay", StringComparison.Ordinal)
            ? $"held back: starting it would delay {reservation.JobId}, which holds the reservation on {reservation.NodeId} from {at}"
            : $"{reservation.JobId} holds the backfill reservation on {reservation.NodeId} from {at}; jobs that would delay it wait";
    }
}
