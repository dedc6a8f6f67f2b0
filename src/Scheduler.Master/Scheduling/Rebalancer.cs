using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Rebalancing;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// When the loop rebalances and how much: a run is due once per interval on the loop's clock, and
/// plans at most max-per-run moves, fewer when the migrations already under way (of any origin:
/// migrate, drain, preemption, earlier runs) near max-in-flight. Migrations cost downtime and
/// transfer, so the bound holds whatever the plan would gain. Owned by the loop: no locks.
/// </summary>
internal sealed class Rebalancer
{
    private readonly TimeSpan _interval;
    private readonly int _maxPerRun;
    private readonly int _maxInFlight;
    private DateTimeOffset _nextRun;

    /// <summary>The first run is due one interval after <paramref name="start"/>.</summary>
    public Rebalancer(MasterOptions options, DateTimeOffset start)
    {
        Mode = options.Rebalance;
        _interval = TimeSpan.FromSeconds(options.RebalanceIntervalSeconds);
        _maxPerRun = options.RebalanceMaxPerRun;
        _maxInFlight = options.RebalanceMaxInFlight;
        _nextRun = start + _interval;
    }

    public string Mode { get; }

    public int MaxInFlight => _maxInFlight;

    /// <summary>True at most once per interval, and never when rebalancing is off; a true answer starts the next interval.</summary>
    public bool TakeDue(DateTimeOffset now)
    {
        if (Mode == RebalanceModes.Off || now < _nextRun)
        {
            return false;
        }

        _nextRun = now + _interval;
        return true;
    }

    /// <summary>How many migrations a run may start with <paramref name="inFlight"/> already under way.</summary>
    public int Room(int inFlight) => Math.Clamp(_maxInFlight - inFlight, 0, _maxPerRun);

    /// <summary>The planner's moves for this mode, at most <paramref name="room"/>.</summary>
    public IReadOnlyList<Migration> Plan(
        int room,
        IEnumerable<NodeState> nodes,
        Func<Allocation, bool> movable,
        Func<Allocation, JobDemand> demandOf,
        Func<NodeState, bool> canReceive,
        Func<TaskDistribution> workload)
    {
        // Fragmentation counts memory stranding, as the default placement policy (fgd-cpu, built on fgd-mem) measures it.
        var planner = new RebalancePlanner(room);
        return Mode == RebalanceModes.Fragmentation
            ? planner.PlanFragmentation(nodes, workload(), movable, demandOf, canReceive, memoryAware: true)
            : planner.Plan(nodes, movable, demandOf, canReceive);
    }
}
