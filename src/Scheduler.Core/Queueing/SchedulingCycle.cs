using Scheduler.Core.Cluster;
using Scheduler.Core.Fairness;
using Scheduler.Core.Placement;
using Scheduler.Core.Preemption;

namespace Scheduler.Core.Queueing;

/// <summary>
/// One pass over the queue: jobs in policy order, each placed on the best node or left waiting
/// with a reason. Allocations are applied to the nodes as they are made, so later jobs in the
/// same pass see the capacity earlier ones took. Tenant quotas are enforced, gangs are placed all
/// or nothing, a blocked job may get a preemption plan, and with EASY backfill the first blocked
/// job gets a reservation that later, smaller jobs must not delay.
/// </summary>
public sealed class SchedulingCycle
{
    private static readonly Dictionary<string, RunningJob> NoneRunning = new(StringComparer.Ordinal);
    private readonly IQueuePolicy _queuePolicy;
    private readonly PlacementEngine _engine;
    private readonly SchedulingCycleOptions _options;
    private readonly PreemptionPlanner? _planner;
    private readonly ShapeKeys _shapes = new();
    private readonly GangShortfalls _gangShortfalls = new();
    private PlacementIndex? _index;

    /// <summary>Creates a cycle from a queue policy and a placement engine, with default options.</summary>
    public SchedulingCycle(IQueuePolicy queuePolicy, PlacementEngine engine)
        : this(queuePolicy, engine, new SchedulingCycleOptions())
    {
    }

    /// <summary>Creates a cycle from a queue policy, a placement engine and <paramref name="options"/>.</summary>
    public SchedulingCycle(IQueuePolicy queuePolicy, PlacementEngine engine, SchedulingCycleOptions options)
    {
        _queuePolicy = queuePolicy;
        _engine = engine;
        _options = options;
        _planner = options.Preemption is { } preemption ? new PreemptionPlanner(preemption) : null;
    }

    /// <summary>The options this cycle runs with.</summary>
    public SchedulingCycleOptions Options => _options;

    /// <summary>
    /// Runs one pass and allocates on <paramref name="nodes"/> for every job placed. Nothing is known
    /// about what already runs, so backfill has no end times to plan with and quotas see no usage.
    /// </summary>
    public IReadOnlyList<SchedulingDecision> Run(
        IReadOnlyCollection<QueuedJob> waiting,
        IReadOnlyDictionary<string, NodeState> nodes,
        DateTimeOffset now) => Run(waiting, nodes, now, NoneRunning);

    /// <summary>
    /// Runs one pass and allocates on <paramref name="nodes"/> for every job placed.
    /// <paramref name="running"/> describes the jobs holding allocations (tenant, priority, start,
    /// runtime estimate): fair share and quotas count their usage, backfill their expected ends,
    /// preemption picks its victims among them.
    /// </summary>
    public IReadOnlyList<SchedulingDecision> Run(
        IReadOnlyCollection<QueuedJob> waiting,
        IReadOnlyDictionary<string, NodeState> nodes,
        DateTimeOffset now,
        IReadOnlyDictionary<string, RunningJob> running) => Run(waiting, nodes, now, running, usage: null);

    /// <summary>
    /// As above, with each tenant's usage already summed by the caller: what the allocations on
    /// <paramref name="nodes"/> whose job has an entry in <paramref name="running"/> hold, per tenant (a
    /// caller that keeps it up to date as allocations change spares the pass a walk over every
    /// allocation). Null: the pass sums it itself.
    /// </summary>
    public IReadOnlyList<SchedulingDecision> Run(
        IReadOnlyCollection<QueuedJob> waiting,
        IReadOnlyDictionary<string, NodeState> nodes,
        DateTimeOffset now,
        IReadOnlyDictionary<string, RunningJob> running,
        IReadOnlyDictionary<string, ResourceTotals>? usage)
    {
        if (waiting.Count == 0)
        {
            return [];
        }

        // The index outlives the pass while the node set stays the same: nodes report their own
        // changes to it, so a pass starts without sorting or regrouping every node.
        if (_index is null || !_index.Covers(nodes))
        {
            _index = new PlacementIndex(nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal));
        }

        var gangs = waiting.Any(j => j.GangId is not null);
        _gangShortfalls.BeginPass(_index.NodeArray, gangs);
        var pass = new SchedulingPass(_engine, _options, _planner, nodes, _index, now, running, _shapes, _gangShortfalls);
        var decisions = pass.Run(_queuePolicy, waiting, usage);
        _gangShortfalls.EndPass(_index.NodeArray, gangs);
        return decisions;
    }

    /// <summary>
    /// Waiting gangs the last pass probed against the nodes; the others were answered from a shortfall
    /// found since free capacity last grew (a gang of the same replica shape that asked as many or fewer).
    /// </summary>
    public int GangsProbed => _gangShortfalls.Probes;
}
