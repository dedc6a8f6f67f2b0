using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Rebalancing runs (<c>--rebalance</c>): on the loop's tick, once per interval, the Core planner's
/// moves are started as live migrations, within the <see cref="Rebalancer"/>'s bounds. Only running
/// checkpointable jobs on connected nodes that can checkpoint move, and only to nodes that could
/// receive a migration now; a move that became impossible since it was planned is skipped.
/// </summary>
internal sealed partial class SchedulerLoop
{
    private Rebalancer? _rebalancer;

    private async Task RebalanceIfDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        // The first run is one interval into the term: by then the workers are back and reconciled.
        _rebalancer ??= new Rebalancer(_options, _leaderSince);
        if (!_rebalancer.TakeDue(now))
        {
            return;
        }

        var mode = _rebalancer.Mode;
        if (_awaitingNodes.Count > 0 && now < _takeoverUntil)
        {
            // Half the cluster may still be reconnecting: a plan now would move work onto the first ones back.
            LogRebalanceDeferred(mode);
            return;
        }

        var inFlight = MigrationsInFlight();
        var room = _rebalancer.Room(inFlight);
        if (room == 0)
        {
            LogRebalanceAtBound(mode, inFlight, _rebalancer.MaxInFlight);
            return;
        }

        var plan = _rebalancer.Plan(
            room,
            NodesOnceMigrationsCommit(),
            MovableByRebalancing,
            a => ProtoMapping.ToDemand(_jobs[a.JobId]),
            n => CanReceiveMigration(_nodes[n.Id]),
            () => TaskDistribution.FromDemands(_jobs.Values.Select(ProtoMapping.ToDemand), coverage: 1.0));
        if (plan.Count == 0)
        {
            LogRebalanceNothing(mode, inFlight);
            return;
        }

        var started = 0;
        var skipped = 0;
        foreach (var move in plan)
        {
            try
            {
                await BeginMigrationAsync(_jobs[move.JobId], move.ToNode, ct);
                started++;
            }
            catch (Grpc.Core.RpcException ex)
            {
                skipped++;
                LogRebalanceMoveSkipped(mode, move.JobId, move.FromNode, move.ToNode, ex.Status.Detail);
            }
        }

        _metrics.Rebalanced(mode, started, skipped);
        LogRebalanceRun(mode, plan.Count, started, skipped, inFlight + started, _rebalancer.MaxInFlight);
    }

    /// <summary>Migrations under way, each counted once (on its source, which holds the job until the commit).</summary>
    private int MigrationsInFlight()
    {
        var count = 0;
        foreach (var node in _nodes.Values)
        {
            foreach (var id in node.State.Allocations.Keys)
            {
                if (LeavesFrom(id, node.Id))
                {
                    count++;
                }
            }
        }

        return count;
    }

    /// <summary>
    /// The nodes as they will be once the migrations under way commit: targets already hold their
    /// reservations, and sources are planned without the jobs leaving them (copied, the real nodes are
    /// not touched). Otherwise a run would move more work off a source its last run already relieved.
    /// </summary>
    private IEnumerable<NodeState> NodesOnceMigrationsCommit()
    {
        foreach (var entry in _nodes.Values)
        {
            var state = entry.State;
            if (!state.Allocations.Keys.Any(id => LeavesFrom(id, entry.Id)))
            {
                yield return state;
                continue;
            }

            var staying = new NodeState(state.Id, state.CpuCapacity, state.MemoryCapacity, state.Gpus, state.Labels)
            {
                Health = state.Health,
                Cordoned = state.Cordoned,
                Draining = state.Draining,
            };
            foreach (var allocation in state.Allocations.Values.Where(a => !LeavesFrom(a.JobId, entry.Id)))
            {
                staying.Allocate(allocation);
            }

            yield return staying;
        }
    }

    private bool LeavesFrom(string jobId, string nodeId) =>
        _jobs.TryGetValue(jobId, out var job) && job.Migration is { } m && m.SourceNode == nodeId;

    /// <summary>What BeginMigrationAsync would accept from its source: a running checkpointable job on a connected node that can checkpoint.</summary>
    private bool MovableByRebalancing(Allocation allocation) =>
        _jobs.TryGetValue(allocation.JobId, out var job)
        && job is { Spec.Checkpointable: true, State: JobState.Running, Migration: null, HoldsAllocation: true, RequeueOnExit: false }
        && job.NodeId == allocation.NodeId
        && _nodes.TryGetValue(allocation.NodeId, out var source)
        && source.Session is not null
        && source.Record.Capabilities.Contains(Capabilities.CheckpointAppLevel);

    /// <summary>The target test of ChooseTarget: connected, serving transfers, able to restore a checkpoint.</summary>
    private static bool CanReceiveMigration(NodeEntry node) =>
        node.Session is not null
        && node.Record.TransferAddress.Length > 0
        && node.Record.Capabilities.Contains(Capabilities.CheckpointAppLevel);

    [LoggerMessage(60, LogLevel.Information, "Rebalance ({Mode}): planned {Planned} moves, started {Started}, skipped {Skipped}; {InFlight} migrations in flight (bound {MaxInFlight})")]
    private partial void LogRebalanceRun(string mode, int planned, int started, int skipped, int inFlight, int maxInFlight);

    [LoggerMessage(61, LogLevel.Information, "Rebalance ({Mode}): move of job {JobId} from {Source} to {Target} skipped: {Reason}")]
    private partial void LogRebalanceMoveSkipped(string mode, string jobId, string source, string target, string reason);

    [LoggerMessage(62, LogLevel.Debug, "Rebalance ({Mode}): {InFlight} migrations in flight, at the bound of {MaxInFlight}; nothing planned")]
    private partial void LogRebalanceAtBound(string mode, int inFlight, int maxInFlight);

    [LoggerMessage(63, LogLevel.Debug, "Rebalance ({Mode}): no move gains enough; {InFlight} migrations in flight")]
    private partial void LogRebalanceNothing(string mode, int inFlight);

    [LoggerMessage(64, LogLevel.Information, "Rebalance ({Mode}): deferred, known workers are still reconnecting after a takeover")]
    private partial void LogRebalanceDeferred(string mode);
}
