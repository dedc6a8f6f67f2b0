using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Queueing;

/// <summary>
/// What placing one gang replica on one node takes, as the caller defines it: <see cref="Find"/> runs the
/// filter, the policy (and, in a pass, the backfill reservation) on that node alone without allocating;
/// <see cref="Allows"/> judges an allocation chosen elsewhere; <see cref="Commit"/> and <see cref="Uncommit"/>
/// apply and undo one.
/// </summary>
internal sealed record GangSteps(
    Func<QueuedJob, NodeState, Allocation?> Find,
    Func<QueuedJob, Allocation, bool> Allows,
    Action<QueuedJob, Allocation> Commit,
    Action<QueuedJob, Allocation> Uncommit);

/// <summary>
/// A gang's placement: every replica's allocation (committed), or none and how many could be placed at
/// most. <see cref="PerNode"/> is where the replicas went, or on a failure how many each node could take.
/// </summary>
internal sealed record GangPlan(
    IReadOnlyList<(QueuedJob Job, Allocation Allocation)>? Placed,
    int Feasible,
    IReadOnlyList<(string NodeId, int Replicas)> PerNode);

/// <summary>
/// Places the replicas of one gang all or nothing, on as few nodes as can hold them, and on each node on GPUs
/// near each other. Replicas of one gang exchange gradients every step, so a link between two replicas is
/// as hot as one between a replica's own GPUs: the same node beats two, the same NVLink island beats two.
/// Every replica is alike, so the node count is least when each step takes a node that holds all that is
/// left (the smallest such, best fit) or else the node that holds the most. The policy's own first choice is
/// kept when it holds the whole gang. A node's capacity is found by placing replicas on it one by one
/// (<see cref="GangSteps.Find"/>, so each meets the job's required topology), from a cheap upper bound.
/// </summary>
internal sealed class GangPlanner
{
    private readonly IReadOnlyList<NodeState> _nodes;
    private readonly GangSteps _steps;

    /// <param name="nodes">Every node, in the order that breaks ties.</param>
    /// <param name="steps">How one replica is placed on one node, and undone.</param>
    public GangPlanner(IReadOnlyList<NodeState> nodes, GangSteps steps)
    {
        _nodes = nodes;
        _steps = steps;
    }

    /// <summary>
    /// Places <paramref name="members"/> (the replicas of one gang, alike but for their ids) and leaves them
    /// committed, or places none. <paramref name="preferred"/> is the node the policy would give one replica.
    /// </summary>
    public GangPlan Place(IReadOnlyList<QueuedJob> members, NodeState? preferred)
    {
        var placed = new List<(QueuedJob Job, Allocation Allocation)>(members.Count);
        var perNode = new List<(string NodeId, int Replicas)>();
        if (preferred is not null)
        {
            if (Fill(preferred, members, members.Count, placed) == members.Count)
            {
                Refine(preferred, members, members.Count, placed);
                perNode.Add((preferred.Id, members.Count));
                return new GangPlan(placed, members.Count, perNode);
            }

            GiveBack(placed, 0);
        }

        var demand = members[0].Demand;
        var candidates = new List<Candidate>();
        for (var i = 0; i < _nodes.Count; i++)
        {
            var bound = Bound(_nodes[i], demand, members.Count);
            if (bound > 0)
            {
                candidates.Add(new Candidate(_nodes[i], i, bound));
            }
        }

        var remaining = members.Count;
        while (remaining > 0)
        {
            var before = placed.Count;
            var next = WholeRest(candidates, members, remaining, placed);
            if (next is null && Largest(candidates, members, remaining, placed.Count) is { } largest)
            {
                next = largest;
                Fill(next.Node, members, next.Bound, placed);
            }

            var got = placed.Count - before;
            if (next is null || got == 0)
            {
                return Fail(candidates, members, placed);
            }

            Refine(next.Node, members, got, placed);
            next.Used = true;
            next.Bound = got;
            perNode.Add((next.Node.Id, got));
            remaining -= got;
        }

        return new GangPlan(placed, members.Count, perNode);
    }

    // The smallest node that holds every replica still to place; its replicas are left placed.
    private Candidate? WholeRest(List<Candidate> candidates, IReadOnlyList<QueuedJob> members, int remaining, List<(QueuedJob Job, Allocation Allocation)> placed)
    {
        foreach (var c in candidates.Where(c => !c.Used && c.Bound >= remaining).OrderBy(c => c.Bound).ThenBy(c => c.Order).ToList())
        {
            var start = placed.Count;
            var got = Fill(c.Node, members, remaining, placed);
            if (got == remaining)
            {
                return c;
            }

            GiveBack(placed, start);
            c.Bound = got;
            c.Exact = true;
        }

        return null;
    }

    // The node that holds the most replicas (its bound made exact); nothing is left placed.
    private Candidate? Largest(List<Candidate> candidates, IReadOnlyList<QueuedJob> members, int remaining, int from)
    {
        Candidate? most = null;
        foreach (var c in candidates.Where(c => !c.Used && c.Bound > 0).OrderByDescending(c => c.Bound).ThenBy(c => c.Order).ToList())
        {
            if (most is not null && most.Bound >= c.Bound)
            {
                // Bounds only overestimate: no node further down can hold more.
                break;
            }

            MakeExact(c, members, from, remaining);
            if (c.Bound > 0 && (most is null || c.Bound > most.Bound || (c.Bound == most.Bound && c.Order < most.Order)))
            {
                most = c;
            }
        }

        return most;
    }

    private GangPlan Fail(List<Candidate> candidates, IReadOnlyList<QueuedJob> members, List<(QueuedJob Job, Allocation Allocation)> placed)
    {
        var perNode = new List<(string NodeId, int Replicas)>();
        foreach (var c in candidates.Where(c => c.Used))
        {
            perNode.Add((c.Node.Id, c.Bound));
        }

        GiveBack(placed, 0);
        foreach (var c in candidates.Where(c => !c.Used))
        {
            MakeExact(c, members, 0, members.Count);
            if (c.Bound > 0)
            {
                perNode.Add((c.Node.Id, c.Bound));
            }
        }

        var ordered = perNode.OrderByDescending(p => p.Replicas).ThenBy(p => p.NodeId, StringComparer.Ordinal).ToList();
        return new GangPlan(null, ordered.Sum(p => p.Replicas), ordered);
    }

    // Probes with the members from `from` on, which are placed nowhere yet.
    private void MakeExact(Candidate c, IReadOnlyList<QueuedJob> members, int from, int limit)
    {
        if (c.Exact)
        {
            return;
        }

        var placed = new List<(QueuedJob Job, Allocation Allocation)>();
        c.Bound = Fill(c.Node, members, Math.Min(limit, c.Bound), placed, from);
        GiveBack(placed, 0);
        c.Exact = true;
    }

    // Places replicas on node one by one, from the next unplaced member (or from `from`), up to limit.
    private int Fill(NodeState node, IReadOnlyList<QueuedJob> members, int limit, List<(QueuedJob Job, Allocation Allocation)> placed, int? from = null)
    {
        var first = from ?? placed.Count;
        var got = 0;
        while (got < limit && first + got < members.Count)
        {
            var member = members[first + got];
            if (_steps.Find(member, node) is not { } allocation)
            {
                break;
            }

            _steps.Commit(member, allocation);
            placed.Add((member, allocation));
            got++;
        }

        return got;
    }

    // The last `count` placed replicas are on node: give them GPUs near each other where the topology allows.
    private void Refine(NodeState node, IReadOnlyList<QueuedJob> members, int count, List<(QueuedJob Job, Allocation Allocation)> placed)
    {
        var start = placed.Count - count;
        var demand = members[start].Demand;
        if (count < 2 || !node.HasTopology || demand.Resources.Gpus == 0)
        {
            return;
        }

        GiveBack(placed, start);
        var sets = new List<GpuShare>[count];
        for (var r = 0; r < count; r++)
        {
            sets[r] = new List<GpuShare>(demand.Resources.Gpus);
        }

        if (GpuSetSelector.TryChooseNear(node, demand, count, sets))
        {
            var ok = true;
            for (var r = 0; r < count && ok; r++)
            {
                var member = members[start + r];
                var allocation = new Allocation(member.JobId, node.Id, member.Demand.Resources, [.. sets[r]]);
                ok = _steps.Allows(member, allocation);
                if (ok)
                {
                    _steps.Commit(member, allocation);
                    placed.Add((member, allocation));
                }
            }

            if (ok)
            {
                return;
            }

            GiveBack(placed, start);
        }

        Fill(node, members, count, placed);
    }

    private void GiveBack(List<(QueuedJob Job, Allocation Allocation)> placed, int from)
    {
        for (var i = placed.Count - 1; i >= from; i--)
        {
            _steps.Uncommit(placed[i].Job, placed[i].Allocation);
        }

        placed.RemoveRange(from, placed.Count - from);
    }

    // At least as many replicas as the node can take: free CPU, memory and GPUs divided by one replica's.
    private static int Bound(NodeState node, JobDemand demand, int replicas)
    {
        if (PlacementEngine.Filter(node, demand) is not null)
        {
            return 0;
        }

        var r = demand.Resources;
        long bound = replicas;
        if (r.CpuMillis > 0)
        {
            bound = Math.Min(bound, node.CpuFree / r.CpuMillis);
        }

        if (r.MemoryMib > 0)
        {
            bound = Math.Min(bound, node.MemoryFree / r.MemoryMib);
        }

        if (r.NeedsGpu)
        {
            long slots = 0;
            var free = node.GpuFreeMilli;
            for (var i = 0; i < free.Length; i++)
            {
                if (node.GpuModelAllowed(i, demand.GpuModels))
                {
                    slots += r.IsSharedGpu ? free[i] / r.GpuMilli : free[i] == ResourceLimits.MilliPerGpu ? 1 : 0;
                }
            }

            bound = Math.Min(bound, r.IsSharedGpu ? slots : slots / r.Gpus);
        }

        return (int)bound;
    }

    private sealed class Candidate(NodeState node, int order, int bound)
    {
        public NodeState Node { get; } = node;

        public int Order { get; } = order;

        // Replicas the node can take: an upper bound until Exact.
        public int Bound { get; set; } = bound;

        public bool Exact { get; set; }

        public bool Used { get; set; }
    }
}
