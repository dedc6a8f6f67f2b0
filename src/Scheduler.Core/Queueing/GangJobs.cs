using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Queueing;

/// <summary>
/// Gang jobs as the queue sees them: one queued job per replica, each with its own id
/// (<see cref="MemberId"/>) and the gang's id, placed all or nothing and released together.
/// </summary>
public static class GangJobs
{
    /// <summary>The job id of replica <paramref name="index"/> of gang <paramref name="gangId"/>.</summary>
    public static string MemberId(string gangId, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{gangId}/{index}");

    /// <summary>
    /// One queued replica per index for <paramref name="job"/> (whose id becomes the gang id);
    /// a single replica is returned as it is.
    /// </summary>
    public static IReadOnlyList<QueuedJob> Expand(QueuedJob job, int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        if (replicas == 1)
        {
            return [job];
        }

        var members = new QueuedJob[replicas];
        for (var i = 0; i < replicas; i++)
        {
            members[i] = job with
            {
                Demand = job.Demand with { JobId = MemberId(job.JobId, i) },
                GangId = job.JobId,
                GangSize = replicas,
            };
        }

        return members;
    }

    /// <summary>Releases every replica of the gang wherever it is allocated; returns how many were.</summary>
    public static int Release(IEnumerable<NodeState> nodes, string gangId, int size)
    {
        var released = 0;
        foreach (var node in nodes)
        {
            for (var i = 0; i < size; i++)
            {
                if (node.Release(MemberId(gangId, i)))
                {
                    released++;
                }
            }
        }

        return released;
    }

    /// <summary>
    /// How much of a gang of <paramref name="replicas"/> replicas, each asking <paramref name="replica"/>, the
    /// nodes could take now, placed as a scheduling pass places gangs (fewest nodes, each replica meeting the
    /// required topology). Probes by allocating on <paramref name="nodes"/> and gives everything back, so it
    /// must run where the nodes are owned (the scheduling loop).
    /// </summary>
    public static GangFeasibility Feasible(PlacementEngine engine, JobDemand replica, int replicas, IReadOnlyList<NodeState> nodes)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(replica);
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var members = Expand(new QueuedJob(replica, 0, DateTimeOffset.MinValue, 0), replicas);
        var planner = new GangPlanner(nodes, new GangSteps(
            (job, node) => engine.FindAllocation(job.Demand, [node]),
            (_, _) => true,
            (_, allocation) => byId[allocation.NodeId].Allocate(allocation),
            (job, allocation) => byId[allocation.NodeId].Release(job.JobId)));
        var preferred = engine.FindAllocation(replica, nodes) is { } first ? byId[first.NodeId] : null;
        var plan = preferred is null ? null : planner.Place(members, preferred);
        foreach (var (job, allocation) in plan?.Placed ?? [])
        {
            byId[allocation.NodeId].Release(job.JobId);
        }

        return new GangFeasibility(replicas, plan?.Feasible ?? 0, [.. (plan?.PerNode ?? []).Select(p => new GangNodeShare(p.NodeId, p.Replicas))]);
    }

    /// <summary>
    /// Why a gang does not fit whole, in words: "needs 4 replicas × 2 GPUs (topology nvlink); largest feasible
    /// set: 3 (n1: 2, n2: 1)".
    /// </summary>
    public static string Shortfall(JobDemand replica, int replicas, int feasible, IReadOnlyList<(string NodeId, int Replicas)> perNode)
    {
        ArgumentNullException.ThrowIfNull(replica);
        ArgumentNullException.ThrowIfNull(perNode);
        const int Named = 5;
        var where = perNode.Count == 0 ? ""
            : $" ({string.Join(", ", perNode.Take(Named).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.NodeId}: {p.Replicas}")))}{(perNode.Count > Named ? ", ..." : "")})";
        return string.Create(CultureInfo.InvariantCulture, $"needs {replicas} replicas × {Size(replica)}; largest feasible set: {feasible}{where}");
    }

    /// <summary>One replica's size in words: "2 GPUs (topology nvlink)", "500 milli-GPU", "CPU 2000m, memory 512 MiB".</summary>
    public static string Size(JobDemand replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        var r = replica.Resources;
        var topology = replica.RequiredTopology == TopologyLevel.System ? "" : $" (topology {TopologyLevels.Name(replica.RequiredTopology)})";
        return r.Gpus > 0 ? string.Create(CultureInfo.InvariantCulture, $"{r.Gpus} GPU{(r.Gpus == 1 ? "" : "s")}{topology}")
            : r.GpuMilli > 0 ? string.Create(CultureInfo.InvariantCulture, $"{r.GpuMilli} milli-GPU")
            : string.Create(CultureInfo.InvariantCulture, $"CPU {r.CpuMillis}m, memory {r.MemoryMib} MiB");
    }
}

/// <summary>How many replicas of a gang one node could take (or took).</summary>
public readonly record struct GangNodeShare(string NodeId, int Replicas);

/// <summary>
/// What <see cref="GangJobs.Feasible"/> found: <see cref="Fit"/> of <see cref="Replicas"/> replicas could be
/// placed now (all of them when the gang fits), and on which nodes.
/// </summary>
public sealed record GangFeasibility(int Replicas, int Fit, IReadOnlyList<GangNodeShare> PerNode)
{
    /// <summary>True when the whole gang fits now.</summary>
    public bool Fits => Fit >= Replicas;
}
