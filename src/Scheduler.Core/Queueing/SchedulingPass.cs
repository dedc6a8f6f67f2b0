using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Fairness;
using Scheduler.Core.Placement;
using Scheduler.Core.Preemption;

namespace Scheduler.Core.Queueing;

/// <summary>The state of one <see cref="SchedulingCycle"/> run: usage, reservation, decisions.</summary>
internal sealed class SchedulingPass
{
    // EASY backfill keeps one reservation; trying a few blocked jobs for it stops one job that can
    // never fit (or waits on work with no estimate) from switching reservations off for everyone.
    private const int MaxReservationAttempts = 8;

    private readonly PlacementEngine _engine;
    private readonly SchedulingCycleOptions _options;
    private readonly PreemptionPlanner? _planner;
    private readonly IReadOnlyDictionary<string, NodeState> _nodes;
    private readonly NodeState[] _ordered;
    private readonly PlacementIndex _index;
    private readonly DateTimeOffset _now;
    private readonly IReadOnlyDictionary<string, RunningJob> _running;
    private readonly Dictionary<string, ResourceTotals> _usage = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _startedEnds = new(StringComparer.Ordinal);
    private readonly HashSet<string> _claimedVictims = new(StringComparer.Ordinal);
    private readonly List<SchedulingDecision> _decisions = [];
    private readonly Dictionary<ShapeKey, string?> _noNode = [];
    private readonly HashSet<ShapeKey> _onlyOnReservedNode = [];
    private readonly GangPlanner _gangs;
    private readonly ShapeKeys _shapes;
    private readonly GangShortfalls _shortfalls;
    private Reservation? _reservation;
    private QueuedJob? _head;
    private NodeScratch? _shadow;
    private int _reservationAttempts;
    private int _preemptionAttempts;

    public SchedulingPass(
        PlacementEngine engine,
        SchedulingCycleOptions options,
        PreemptionPlanner? planner,
        IReadOnlyDictionary<string, NodeState> nodes,
        PlacementIndex index,
        DateTimeOffset now,
        IReadOnlyDictionary<string, RunningJob> running,
        ShapeKeys shapes,
        GangShortfalls shortfalls)
    {
        _shapes = shapes;
        _shortfalls = shortfalls;
        _engine = engine;
        _options = options;
        _planner = planner;
        _nodes = nodes;
        _index = index;
        _ordered = index.NodeArray;
        _now = now;
        _running = running;
        _gangs = new GangPlanner(_ordered, new GangSteps(FindOn, DoesNotDelayReservation, Commit, Uncommit));
    }

    public List<SchedulingDecision> Run(IQueuePolicy policy, IReadOnlyCollection<QueuedJob> waiting, IReadOnlyDictionary<string, ResourceTotals>? usage)
    {
        if (usage is not null)
        {
            foreach (var (tenant, held) in usage)
            {
                _usage[tenant] = held;
            }
        }
        else
        {
            foreach (var node in _ordered)
            {
                foreach (var allocation in node.Allocations.Values)
                {
                    if (_running.TryGetValue(allocation.JobId, out var job))
                    {
                        _usage[job.Tenant] = _usage.GetValueOrDefault(job.Tenant) + ResourceTotals.Of(allocation.Resources);
                    }
                }
            }
        }

        var context = new QueueContext(
            _now,
            ResourceTotals.CapacityOf(_ordered),
            new Dictionary<string, ResourceTotals>(_usage, StringComparer.Ordinal));
        var gangs = waiting
            .Where(j => j.GangId is not null)
            .GroupBy(j => j.GangId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(j => j.Sequence).ThenBy(j => j.JobId, StringComparer.Ordinal).ToArray(), StringComparer.Ordinal);
        var gangsDone = new HashSet<string>(StringComparer.Ordinal);

        foreach (var job in policy.Order(waiting, context))
        {
            if (job.GangId is { } gangId)
            {
                if (gangsDone.Add(gangId))
                {
                    PlaceGang(gangId, gangs[gangId]);
                }

                continue;
            }

            PlaceOne(job);
        }

        return _decisions;
    }

    private void PlaceOne(QueuedJob job)
    {
        if (_options.Quotas.Check(job.Tenant, _usage.GetValueOrDefault(job.Tenant), ResourceTotals.Of(job.Demand.Resources)) is { } overQuota)
        {
            _decisions.Add(new SchedulingDecision(job, null, overQuota));
            return;
        }

        var (allocation, reason) = TryPlace(job);
        if (allocation is not null)
        {
            Commit(job, allocation);
            _decisions.Add(new SchedulingDecision(job, allocation, null));
            return;
        }

        if (_planner is not null && _planner.MayPreempt(job) &&
            _preemptionAttempts++ < _planner.Options.MaxPlansPerCycle &&
            _planner.Plan(job, _ordered, _running, _now, _claimedVictims) is { } plan)
        {
            _claimedVictims.UnionWith(plan.Victims);
            _decisions.Add(new SchedulingDecision(job, null, Invariant($"preempting {plan.Victims.Count} lower-priority job(s) on {plan.NodeId}"))
            {
                Preemption = plan,
            });
            return;
        }

        if (_options.Backfill && _reservation is null && _reservationAttempts < MaxReservationAttempts)
        {
            _reservationAttempts++;
            if (Reserve(job) is { } reservation)
            {
                _decisions.Add(new SchedulingDecision(job, null, Invariant($"{reason}; reserved {reservation.NodeId} from {reservation.At:O}"))
                {
                    Reservation = reservation,
                });
                return;
            }
        }

        _decisions.Add(new SchedulingDecision(job, null, reason));
    }

    private void PlaceGang(string gangId, QueuedJob[] members)
    {
        var size = members[0].GangSize;
        if (members.Length != size)
        {
            AddAll(members, Invariant($"gang {gangId}: {members.Length} of {size} replicas waiting"));
            return;
        }

        var total = ResourceTotals.Zero;
        foreach (var member in members)
        {
            total += ResourceTotals.Of(member.Demand.Resources);
        }

        var tenant = members[0].Tenant;
        if (_options.Quotas.Check(tenant, _usage.GetValueOrDefault(tenant), total) is { } overQuota)
        {
            AddAll(members, Invariant($"gang {gangId}: {overQuota}"));
            return;
        }

        // A gang of this shape asking as many or more already fell short since capacity last grew.
        var shape = _shapes.Of(members[0].Demand);
        if (_shortfalls.Known(shape, size) is { } known)
        {
            AddShortfall(gangId, members, known);
            return;
        }

        _shortfalls.Probed();

        // The node the policy would give one replica; none means no replica fits anywhere.
        var (first, reason) = TryPlace(members[0], tentative: true);
        if (first is null)
        {
            AddShortfall(gangId, members, Remember(shape, new GangShortfalls.Shortfall(0, [], reason)));
            return;
        }

        var plan = _gangs.Place(members, _nodes[first.NodeId]);
        if (plan.Placed is not { } placed)
        {
            AddShortfall(gangId, members, Remember(shape, new GangShortfalls.Shortfall(plan.Feasible, plan.PerNode, null)));
            return;
        }

        foreach (var (job, allocation) in placed)
        {
            _decisions.Add(new SchedulingDecision(job, allocation, null));
        }
    }

    private GangShortfalls.Shortfall Remember(ShapeKey shape, GangShortfalls.Shortfall shortfall)
    {
        // Found under a backfill reservation it could differ for a job that ends before it: not kept.
        if (_reservation is null)
        {
            _shortfalls.Remember(shape, shortfall);
        }

        return shortfall;
    }

    private void AddShortfall(string gangId, QueuedJob[] members, GangShortfalls.Shortfall shortfall)
    {
        var text = GangJobs.Shortfall(members[0].Demand, members[0].GangSize, shortfall.Feasible, shortfall.PerNode);
        AddAll(members, shortfall.Detail is null ? Invariant($"gang {gangId}: {text}") : Invariant($"gang {gangId}: {text} ({shortfall.Detail})"));
    }

    private Allocation? FindOn(QueuedJob job, NodeState node) =>
        _engine.FindAllocation(job.Demand, [node]) is { } allocation && DoesNotDelayReservation(job, allocation) ? allocation : null;

    private (Allocation? Allocation, string? Reason) TryPlace(QueuedJob job, bool tentative = false)
    {
        // Outside a gang attempt free capacity only shrinks during a pass, so a shape that found
        // no node once finds none again, and one that fit only on the reserved node still fits
        // nowhere else: skip those scans, as Borg's equivalence classes do. Failures inside a gang
        // attempt are not remembered, because its rollback gives capacity back.
        var shape = _shapes.Of(job.Demand);
        if (_noNode.TryGetValue(shape, out var known))
        {
            return (null, known);
        }

        var reservation = _reservation;
        var onlyReserved = reservation is not null && _onlyOnReservedNode.Contains(shape);
        var outcome = onlyReserved ? _engine.Find(job.Demand, [_nodes[reservation!.NodeId]]) : _engine.Find(job.Demand, _index);
        if (outcome.Allocation is not { } allocation)
        {
            if (!tentative)
            {
                _noNode[shape] = onlyReserved ? DescribeNoNode(job) : outcome.Reason;
            }

            return (null, _noNode.GetValueOrDefault(shape, outcome.Reason));
        }

        if (DoesNotDelayReservation(job, allocation))
        {
            return (allocation, null);
        }

        if (!onlyReserved)
        {
            var elsewhere = _engine.Find(job.Demand, _ordered.Where(n => !string.Equals(n.Id, reservation!.NodeId, StringComparison.Ordinal)));
            if (elsewhere.Allocation is not null)
            {
                return (elsewhere.Allocation, null);
            }

            if (!tentative)
            {
                _onlyOnReservedNode.Add(shape);
            }
        }

        return (null, Invariant($"would delay {reservation!.JobId}, reserved on {reservation.NodeId} from {reservation.At:O}"));
    }

    private string? DescribeNoNode(QueuedJob job) => _engine.Find(job.Demand, _ordered).Reason;

    private bool DoesNotDelayReservation(QueuedJob job, Allocation allocation)
    {
        if (_reservation is null || !string.Equals(allocation.NodeId, _reservation.NodeId, StringComparison.Ordinal) ||
            ExpectedEnd(job) <= _reservation.At)
        {
            return true;
        }

        // It would still hold its resources when the head is due: the head must fit beside it.
        var shadow = _shadow!;
        if (!shadow.CanTake(allocation))
        {
            return false;
        }

        shadow.Take(allocation);
        var fits = shadow.Fits(_head!.Demand);
        shadow.Release(allocation);
        return fits;
    }

    private void Commit(QueuedJob job, Allocation allocation)
    {
        _nodes[allocation.NodeId].Allocate(allocation);
        _usage[job.Tenant] = _usage.GetValueOrDefault(job.Tenant) + ResourceTotals.Of(allocation.Resources);
        var end = ExpectedEnd(job);
        _startedEnds[job.JobId] = end;
        if (OutlastsReservation(allocation, end))
        {
            _shadow!.Take(allocation);
        }
    }

    private void Uncommit(QueuedJob job, Allocation allocation)
    {
        _nodes[allocation.NodeId].Release(job.JobId);
        _usage[job.Tenant] = _usage.GetValueOrDefault(job.Tenant) - ResourceTotals.Of(allocation.Resources);
        if (_startedEnds.Remove(job.JobId, out var end) && OutlastsReservation(allocation, end))
        {
            _shadow!.Release(allocation);
        }
    }

    private bool OutlastsReservation(Allocation allocation, DateTimeOffset end) =>
        _reservation is not null && string.Equals(allocation.NodeId, _reservation.NodeId, StringComparison.Ordinal) && end > _reservation.At;

    private Reservation? Reserve(QueuedJob head)
    {
        var found = ReservationFinder.Find(head.Demand, _ordered, EndOf, _now);
        if (found is null)
        {
            return null;
        }

        var (node, at) = found.Value;
        var shadow = new NodeScratch(node);
        foreach (var allocation in node.Allocations.Values)
        {
            if (EndOf(allocation.JobId) <= at)
            {
                shadow.Release(allocation);
            }
        }

        _head = head;
        _shadow = shadow;
        _reservation = new Reservation(head.JobId, node.Id, at);
        return _reservation;
    }

    private DateTimeOffset EndOf(string jobId) =>
        _running.TryGetValue(jobId, out var running) ? running.ExpectedEnd
        : _startedEnds.TryGetValue(jobId, out var end) ? end
        : DateTimeOffset.MaxValue;

    private DateTimeOffset ExpectedEnd(QueuedJob job) =>
        job.RuntimeEstimate is { } estimate && DateTimeOffset.MaxValue - _now > estimate ? _now + estimate : DateTimeOffset.MaxValue;

    private void AddAll(QueuedJob[] members, string reason)
    {
        foreach (var member in members)
        {
            _decisions.Add(new SchedulingDecision(member, null, reason));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
