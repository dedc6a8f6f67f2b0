using System.Security.Cryptography;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using StoredCheckpoint = Scheduler.Master.Store.StoredCheckpoint;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Stored checkpoints, coordinated: suspend (checkpoint, stop, free the capacity; resume places the
/// job again), preemption of a victim no node can take live (checkpointed, requeued to resume later),
/// and periodic checkpoints replicated to a peer (a job whose worker dies resumes from the last one).
/// The operation is persisted on the job before the worker is asked, so a new leader still accepts
/// the report. A job placed where its checkpoint is not gets it shipped there by a holder first.
/// </summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>At most this many periodic checkpoints begin per tick: a burst of due jobs is spread out.</summary>
    private const int MaxPeriodicPerTick = 8;

    /// <summary>Past the worker's own bound on one checkpoint and its transfers (3 min), with room.</summary>
    private static readonly TimeSpan CheckpointTimeout = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan ShipmentTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Agents seen stopped for a stop checkpoint whose report has not come yet, by job.</summary>
    private readonly Dictionary<string, (int Attempt, DateTimeOffset At)> _stoppedForCheckpoint = new(StringComparer.Ordinal);

    /// <summary>Shipments under way, by job: in memory only (a new leader requeues an unstarted attempt, which restores again).</summary>
    private readonly Dictionary<string, Shipment> _shipments = new(StringComparer.Ordinal);

    /// <summary>When each job's last periodic checkpoint was asked for, so a failing one is retried after the interval, not every tick.</summary>
    private readonly Dictionary<string, DateTimeOffset> _periodicAskedAt = new(StringComparer.Ordinal);

    private async Task SuspendAsync(SuspendJob request, CancellationToken ct)
    {
        if (!_jobs.TryGetValue(request.JobId, out var job))
        {
            throw Fail(Grpc.Core.StatusCode.NotFound, $"job '{request.JobId}' not found");
        }

        if (job.State == JobState.Suspended || job.Checkpointing?.Purpose == CheckpointOperation.Suspend)
        {
            // Already what was asked (a retried call whose first answer was lost).
            request.Reply.TrySetResult(ProtoMapping.ToProto(job));
            return;
        }

        var suspending = await BeginCheckpointAsync(job, CheckpointOperation.Suspend, ct);
        request.Reply.TrySetResult(ProtoMapping.ToProto(suspending));
    }

    private async Task ResumeAsync(ResumeJob request, CancellationToken ct)
    {
        if (!_jobs.TryGetValue(request.JobId, out var job))
        {
            throw Fail(Grpc.Core.StatusCode.NotFound, $"job '{request.JobId}' not found");
        }

        if (JobTransitions.Resumed(job, _time.GetUtcNow()) is not { } resumed)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is {job.State.ToString().ToUpperInvariant()}: only a suspended job can be resumed");
        }

        await ApplyAsync([resumed], ct);
        LogResumed(job.Id, job.Checkpoint?.Id ?? "");
        request.Reply.TrySetResult(ProtoMapping.ToProto(resumed));
    }

    /// <summary>
    /// Persists the operation on the job and asks its worker to checkpoint the agent to the targets:
    /// for a suspend or a preemption the worker itself and one peer (where there is one), for a
    /// periodic checkpoint one peer. Throws an RpcException naming why the job cannot be checkpointed now.
    /// </summary>
    private async Task<JobRecord> BeginCheckpointAsync(JobRecord job, string purpose, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (!job.Spec.Checkpointable)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is not checkpointable: it can be stopped and restarted, not {purpose}ed with its state");
        }

        if (job.Migration is { } migration)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is migrating to {migration.TargetNode} ({migration.Id}); try again when it has moved");
        }

        if (job.Checkpointing is { } busy)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is being checkpointed ({busy.Purpose}, {busy.Id}); try again when it is done");
        }

        if (job.State != JobState.Running || !job.HoldsAllocation || job.NodeId is null || job.RequeueOnExit)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is {job.State.ToString().ToUpperInvariant()}: only a running job can be checkpointed");
        }

        var source = _nodes[job.NodeId];
        if (!CanHoldCheckpoints(source))
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"node {source.Id} cannot checkpoint this job now (disconnected, no transfer address, or without {Capabilities.CheckpointAppLevel})");
        }

        var peer = ChoosePeer(job, source.Id);
        if (purpose == CheckpointOperation.Periodic && peer is null)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"no other node can hold a replica of job {job.Id}'s checkpoint now");
        }

        List<NodeEntry> targets = purpose == CheckpointOperation.Periodic ? [peer!] : peer is null ? [source] : [source, peer];
        var operation = new CheckpointOperation(
            $"c-{job.Id}-{job.Attempt}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}",
            purpose,
            source.Id,
            job.Attempt,
            [.. targets.Select(t => t.Id)],
            Stop: purpose != CheckpointOperation.Periodic,
            now);
        var checkpointing = job with { Checkpointing = operation, UpdatedAt = now };
        await ApplyAsync([checkpointing], ct);

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var command = new CheckpointAgent { CheckpointId = operation.Id, JobId = job.Id, Attempt = job.Attempt, Token = token, Stop = operation.Stop };
        foreach (var target in targets)
        {
            _commands.Send(target, new MasterCommand
            {
                ExpectMigration = new ExpectMigration { MigrationId = operation.Id, Token = token, MaxBytes = MaxCheckpointBytes, TtlS = 600 },
            });
            command.Targets.Add(new CheckpointTarget { NodeId = target.Id, Address = target.Record.TransferAddress });
        }

        _commands.Send(source, new MasterCommand { CheckpointAgent = command });
        LogCheckpointBegun(operation.Id, purpose, job.Id, job.Attempt, string.Join(", ", operation.Targets));
        return checkpointing;
    }

    /// <summary>
    /// Where a replica goes: the node the placement policy would pick for the job among the other
    /// nodes that can hold checkpoints (so a resume there restores without a shipment), else the first
    /// of them; null when there is none.
    /// </summary>
    private NodeEntry? ChoosePeer(JobRecord job, string sourceId)
    {
        var peers = _nodes.Values.Where(n => n.Id != sourceId && CanHoldCheckpoints(n) && !n.Record.Draining).ToList();
        if (peers.Count == 0)
        {
            return null;
        }

        var fit = _migrationPlacement.FindAllocation(ProtoMapping.ToDemand(job), peers.Select(p => p.State));
        return fit is null ? peers[0] : _nodes[fit.NodeId];
    }

    private static bool CanHoldCheckpoints(NodeEntry node) =>
        node.Session is not null && node.Record.TransferAddress.Length > 0 && node.Record.Capabilities.Contains(Capabilities.CheckpointAppLevel);

    private async Task CheckpointReportAsync(NodeEntry entry, CheckpointReport report, CancellationToken ct)
    {
        if (report.Shipment)
        {
            await ShipmentReportAsync(entry, report, ct);
            return;
        }

        var now = _time.GetUtcNow();
        if (!_jobs.TryGetValue(report.JobId, out var job) || job.Checkpointing is not { } operation || operation.Id != report.CheckpointId)
        {
            // Its attempt ended meanwhile (or it is unknown): whatever was stored is nobody's, unless
            // this is a second report of the checkpoint the job already keeps.
            LogCheckpointReportIgnored(report.CheckpointId, report.JobId, entry.Id);
            if (job?.Checkpoint?.Id != report.CheckpointId)
            {
                DropCopies(report.CheckpointId, report.StoredOn);
            }

            return;
        }

        _stoppedForCheckpoint.Remove(job.Id);
        if (!report.Ok)
        {
            // A target may hold a partial or even a committed copy: nothing refers to it.
            DropCopies(operation.Id, operation.Targets);
            var cleared = job with { Checkpointing = null, UpdatedAt = now, Message = $"{operation.Purpose} checkpoint failed: {report.Error}" };
            LogCheckpointFailed(operation.Id, operation.Purpose, job.Id, report.Error);
            if (operation.Purpose == CheckpointOperation.Preempt && !report.SourceStopped
                && JobTransitions.Move(cleared, "preempted; its checkpoint failed, so it is restarted", now) is { } moving)
            {
                // The preemptor still needs the room: stopped and requeued like any other victim.
                await ApplyAsync([moving], ct);
                _commands.Stop(entry, moving.Id, moving.Attempt, moving.Message);
                return;
            }

            await ApplyAsync([cleared], ct);
            return;
        }

        var checkpoint = new StoredCheckpoint(operation.Id, [.. report.StoredOn.Where(operation.Targets.Contains).Distinct()], operation.Attempt, report.Bytes, report.TakenAt?.ToDateTimeOffset() ?? now);
        var next = operation.Purpose switch
        {
            CheckpointOperation.Suspend => JobTransitions.Suspended(job, checkpoint, now),
            CheckpointOperation.Preempt => JobTransitions.CheckpointedAway(job, checkpoint, $"preempted; checkpoint {checkpoint.Id} kept on {string.Join(", ", checkpoint.Nodes)} to resume from", now),
            _ => job with { Checkpoint = checkpoint, Checkpointing = null, UpdatedAt = now },
        };
        if (next is null && report.AgentStopped && JobTransitions.PhaseOf(job) == JobPhase.Moving)
        {
            // Drained or preempted while it was being suspended: its agent is gone and its state kept,
            // so it goes back to the queue now and resumes from this checkpoint.
            next = JobTransitions.HostStopped(job with { Checkpoint = checkpoint, Checkpointing = null, RestoreFrom = "" }, now);
        }

        if (next is null)
        {
            DropCopies(operation.Id, report.StoredOn);
            await ApplyAsync([job with { Checkpointing = null, UpdatedAt = now }], ct);
            return;
        }

        await ApplyAsync([next], ct);
        _metrics.CheckpointStored(operation.Purpose);
        LogCheckpointStored(operation.Id, operation.Purpose, job.Id, string.Join(", ", checkpoint.Nodes), checkpoint.Bytes);
    }

    /// <summary>Periodic checkpoints that are due: running checkpointable jobs whose interval has passed since their last one.</summary>
    private async Task CheckpointDueJobsAsync(DateTimeOffset now, CancellationToken ct)
    {
        var begun = 0;

        // Only the jobs asking for periodic checkpoints (kept as records change), not every allocation of every
        // node each tick: that walk was a tenth of the loop with thousands of jobs running.
        foreach (var id in _checkpointWatch.Periodic())
        {
            if (begun == MaxPeriodicPerTick)
            {
                return;
            }

            if (!_jobs.TryGetValue(id, out var job) || job.NodeId is not { } nodeId || !_nodes.TryGetValue(nodeId, out var node)
                || !CanHoldCheckpoints(node) || !node.State.Allocations.ContainsKey(id)
                || job.Spec.CheckpointIntervalS <= 0 || job.State != JobState.Running || job.Migration is not null || job.Checkpointing is not null || job.RequeueOnExit)
            {
                continue;
            }

            var interval = TimeSpan.FromSeconds(job.Spec.CheckpointIntervalS);
            var last = job.Checkpoint is { } cp && cp.Attempt == job.Attempt ? cp.TakenAt : job.StartedAt ?? job.UpdatedAt;
            if (_periodicAskedAt.TryGetValue(job.Id, out var asked) && asked > last)
            {
                last = asked;
            }

            if (now - last < interval)
            {
                continue;
            }

            _periodicAskedAt[job.Id] = now;
            try
            {
                await BeginCheckpointAsync(job, CheckpointOperation.Periodic, ct);
                begun++;
            }
            catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.FailedPrecondition)
            {
                LogPeriodicSkipped(job.Id, ex.Status.Detail);
            }
        }
    }

    /// <summary>
    /// Starts a placed job's attempt: at once when it starts afresh or its node holds the checkpoint;
    /// otherwise a node that holds it first ships it there (the start follows the shipment's report).
    /// </summary>
    private async Task StartPlacedAsync(JobRecord job, CancellationToken ct)
    {
        var target = _nodes[job.NodeId!];
        if (job.Checkpoint is not { } checkpoint || job.RestoreFrom.Length > 0)
        {
            _commands.Start(target, job);
            return;
        }

        try
        {
            if (await TryShipAsync(job, target, checkpoint, checkpoint.Nodes, ct))
            {
                return;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Only the message saying why it starts afresh was not stored: start it all the same.
            if (ex is LeadershipLostException)
            {
                _term.End(ex.Message);
                return;
            }

            LogPersistFailed(1, ex);
        }

        _commands.Start(target, _jobs[job.Id]);
    }

    /// <summary>
    /// Asks the first reachable holder among <paramref name="holders"/> to ship the checkpoint to the
    /// job's node. False when none can: the job is then marked to start afresh, saying why.
    /// </summary>
    private async Task<bool> TryShipAsync(JobRecord job, NodeEntry target, StoredCheckpoint checkpoint, IReadOnlyList<string> holders, CancellationToken ct)
    {
        for (var i = 0; i < holders.Count; i++)
        {
            if (!_nodes.TryGetValue(holders[i], out var holder) || !CanHoldCheckpoints(holder) || !CanHoldCheckpoints(target))
            {
                continue;
            }

            var shipment = new Shipment($"s-{job.Id}-{job.Attempt}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}", job.Attempt, checkpoint.Id, holder.Id, target.Id,
                [.. holders.Skip(i + 1)], _time.GetUtcNow());
            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            _shipments[job.Id] = shipment;
            _commands.Send(target, new MasterCommand
            {
                ExpectMigration = new ExpectMigration { MigrationId = shipment.Id, Token = token, MaxBytes = MaxCheckpointBytes, TtlS = 600 },
            });
            _commands.Send(holder, new MasterCommand
            {
                ShipCheckpoint = new ShipCheckpoint
                {
                    CheckpointId = checkpoint.Id,
                    ShipmentId = shipment.Id,
                    TargetAddress = target.Record.TransferAddress,
                    Token = token,
                    JobId = job.Id,
                    Attempt = job.Attempt,
                },
            });
            LogShipping(checkpoint.Id, job.Id, job.Attempt, holder.Id, target.Id, shipment.Id);
            return true;
        }

        LogCheckpointUnreachable(checkpoint.Id, job.Id, string.Join(", ", checkpoint.Nodes));
        var now = _time.GetUtcNow();
        await ApplyAsync([job with { Message = $"placed on {target.Id}; started afresh: no node holding checkpoint {checkpoint.Id} ({string.Join(", ", checkpoint.Nodes)}) can ship it now", UpdatedAt = now }], ct);
        return false;
    }

    private async Task ShipmentReportAsync(NodeEntry entry, CheckpointReport report, CancellationToken ct)
    {
        if (!_shipments.TryGetValue(report.JobId, out var shipment) || shipment.Id != report.CheckpointId)
        {
            LogCheckpointReportIgnored(report.CheckpointId, report.JobId, entry.Id);
            return;
        }

        _shipments.Remove(report.JobId);
        if (!_jobs.TryGetValue(report.JobId, out var job) || job.Attempt != shipment.Attempt || JobTransitions.PhaseOf(job) != JobPhase.Assigned
            || !_nodes.TryGetValue(job.NodeId!, out var target))
        {
            // The attempt it was for has ended or is being moved: the shipped copy is nobody's.
            DropCopies(shipment.Id, [shipment.Target]);
            return;
        }

        if (report.Ok)
        {
            var restoring = job with { RestoreFrom = shipment.Id, Message = $"placed on {target.Id}; restoring checkpoint {shipment.CheckpointId} shipped from {shipment.Holder}", UpdatedAt = _time.GetUtcNow() };
            await ApplyAsync([restoring], ct);
            _commands.Start(target, restoring);
            return;
        }

        await ShipmentFailedAsync(job, target, shipment, report.Error, ct);
    }

    /// <summary>A shipment that failed, or whose holder died or never answered: the next holder ships it, else the job starts afresh.</summary>
    private async Task ShipmentFailedAsync(JobRecord job, NodeEntry target, Shipment shipment, string error, CancellationToken ct)
    {
        LogShipmentFailed(shipment.CheckpointId, job.Id, shipment.Holder, target.Id, error);
        DropCopies(shipment.Id, [target.Id]);
        if (job.Checkpoint is { } checkpoint && checkpoint.Id == shipment.CheckpointId && await TryShipAsync(job, target, checkpoint, shipment.Remaining, ct))
        {
            return;
        }

        _commands.Start(target, _jobs[job.Id]);
    }

    /// <summary>
    /// Shipments whose holder is dead or that have not been reported within <see cref="ShipmentTimeout"/>
    /// (the report was lost with a broken stream) fail over to the next holder, so no job waits forever.
    /// </summary>
    private async Task ExpireShipmentsAsync(DateTimeOffset now, CancellationToken ct)
    {
        foreach (var (jobId, shipment) in _shipments.ToArray())
        {
            var holderDead = !_nodes.TryGetValue(shipment.Holder, out var holder) || holder.State.Health == Core.Cluster.NodeHealth.Dead;
            if (!holderDead && now - shipment.StartedAt < ShipmentTimeout)
            {
                continue;
            }

            _shipments.Remove(jobId);
            if (_jobs.TryGetValue(jobId, out var job) && job.Attempt == shipment.Attempt && JobTransitions.PhaseOf(job) == JobPhase.Assigned
                && _nodes.TryGetValue(shipment.Target, out var target))
            {
                await ShipmentFailedAsync(job, target, shipment, holderDead ? $"holder {shipment.Holder} is gone" : $"no report within {ShipmentTimeout.TotalMinutes:0} min", ct);
            }
        }
    }

    /// <summary>
    /// After records are stored: an attempt that waited for its checkpoint's shipment and was cancelled
    /// or moved meanwhile never got a start, so no agent will ever report its exit. It ends here, as a
    /// host-side stop (cancelled, or requeued without using a retry), and the shipment is called off.
    /// </summary>
    private List<JobRecord> SettleUnstarted(IReadOnlyCollection<JobRecord> records, DateTimeOffset now)
    {
        var settled = new List<JobRecord>();
        foreach (var record in records)
        {
            if (!_shipments.TryGetValue(record.Id, out var shipment) || (record.Attempt == shipment.Attempt && JobTransitions.PhaseOf(record) == JobPhase.Assigned))
            {
                continue;
            }

            _shipments.Remove(record.Id);
            DropCopies(shipment.Id, [shipment.Target]);
            if (record.Attempt == shipment.Attempt && JobTransitions.HostStopped(record, now) is { } stopped)
            {
                settled.Add(stopped with { Message = $"{record.Message} (before its checkpoint arrived, so it never started)" });
            }
        }

        return settled;
    }

    /// <summary>
    /// Checkpoint operations whose report never came (lost with a broken stream or a failed-over leader)
    /// end after <see cref="CheckpointTimeout"/>, or a minute after their agent was seen stopped for it:
    /// the agent gone, the job is requeued (its previous checkpoint kept); still running, it runs on.
    /// </summary>
    private async Task ExpireCheckpointsAsync(DateTimeOffset now, CancellationToken ct)
    {
        foreach (var id in _checkpointWatch.Checkpointing())
        {
            if (!_jobs.TryGetValue(id, out var job) || job.Checkpointing is not { } op || job.NodeId is not { } nodeId
                || !_nodes.TryGetValue(nodeId, out var node) || !node.State.Allocations.ContainsKey(id))
            {
                continue;
            }

            var stoppedAt = _stoppedForCheckpoint.TryGetValue(id, out var stopped) && stopped.Attempt == op.Attempt ? stopped.At : (DateTimeOffset?)null;
            if (stoppedAt is { } at ? now - at < TimeSpan.FromMinutes(1) : now - op.StartedAt < CheckpointTimeout)
            {
                continue;
            }

            LogCheckpointFailed(op.Id, op.Purpose, job.Id, "no report came");
            var cleared = job with { Checkpointing = null, UpdatedAt = now, Message = $"{op.Purpose} checkpoint {op.Id}: no report came" };
            _stoppedForCheckpoint.Remove(id);
            DropCopies(op.Id, op.Targets);
            await ApplyAsync([stoppedAt is not null && JobTransitions.HostStopped(cleared, now) is { } requeued ? requeued with { Message = cleared.Message } : cleared], ct);
        }
    }

    /// <summary>
    /// Keeps a record's checkpoint fields consistent before it is persisted: an operation whose
    /// attempt ended is over (its report will be ignored), and a finished job keeps no checkpoint.
    /// </summary>
    private static JobRecord EndCheckpointIfAttemptEnded(JobRecord record)
    {
        if (record.Checkpointing is { } op && (record.IsTerminal || !record.HoldsAllocation || record.Attempt != op.Attempt || record.NodeId != op.Node))
        {
            record = record with { Checkpointing = null };
        }

        return record.IsTerminal && record.Checkpoint is not null ? record with { Checkpoint = null } : record;
    }

    /// <summary>
    /// After a record is stored: a checkpoint it no longer refers to is deleted where it is kept, and a
    /// shipped copy its ended attempt restored from is deleted on that node (a worker keeps either
    /// while an agent still runs from it).
    /// </summary>
    private void DropUnusedCheckpoints(JobRecord? previous, JobRecord record)
    {
        if (!record.HoldsAllocation)
        {
            // The attempt's bookkeeping ends with it.
            _periodicAskedAt.Remove(record.Id);
            _stoppedForCheckpoint.Remove(record.Id);
        }

        if (previous?.Checkpoint is { } old && record.Checkpoint?.Id != old.Id)
        {
            DropCopies(old.Id, old.Nodes);
        }

        if (previous is { HoldsAllocation: true, RestoreFrom.Length: > 0, NodeId: { } node }
            && (!record.HoldsAllocation || record.Attempt != previous.Attempt)
            && previous.RestoreFrom != record.Checkpoint?.Id)
        {
            DropCopies(previous.RestoreFrom, [node]);
        }
    }

    private void DropCopies(string id, IEnumerable<string> nodes)
    {
        foreach (var nodeId in nodes)
        {
            if (_nodes.TryGetValue(nodeId, out var node) && node.Session is not null)
            {
                _commands.Send(node, new MasterCommand { CancelMigration = new CancelMigration { MigrationId = id } });
            }
        }
    }

    private sealed record Shipment(string Id, int Attempt, string CheckpointId, string Holder, string Target, IReadOnlyList<string> Remaining, DateTimeOffset StartedAt);

    [LoggerMessage(40, LogLevel.Information, "Checkpoint {CheckpointId} ({Purpose}) of job {JobId} attempt {Attempt} to {Targets}")]
    private partial void LogCheckpointBegun(string checkpointId, string purpose, string jobId, int attempt, string targets);

    [LoggerMessage(41, LogLevel.Information, "Checkpoint {CheckpointId} ({Purpose}) of job {JobId} stored on {Nodes} ({Bytes} bytes)")]
    private partial void LogCheckpointStored(string checkpointId, string purpose, string jobId, string nodes, long bytes);

    [LoggerMessage(42, LogLevel.Warning, "Checkpoint {CheckpointId} ({Purpose}) of job {JobId} failed: {Error}")]
    private partial void LogCheckpointFailed(string checkpointId, string purpose, string jobId, string error);

    [LoggerMessage(43, LogLevel.Information, "Checkpoint report {CheckpointId} for job {JobId} from {NodeId} ignored: no such checkpoint or shipment under way")]
    private partial void LogCheckpointReportIgnored(string checkpointId, string jobId, string nodeId);

    [LoggerMessage(44, LogLevel.Information, "Checkpoint {CheckpointId} of job {JobId} attempt {Attempt}: shipping from {Holder} to {Target} as {ShipmentId}")]
    private partial void LogShipping(string checkpointId, string jobId, int attempt, string holder, string target, string shipmentId);

    [LoggerMessage(45, LogLevel.Warning, "Checkpoint {CheckpointId} of job {JobId}: no holder ({Nodes}) can ship it now; the job starts afresh")]
    private partial void LogCheckpointUnreachable(string checkpointId, string jobId, string nodes);

    [LoggerMessage(46, LogLevel.Warning, "Shipping checkpoint {CheckpointId} of job {JobId} from {Holder} to {Target} failed: {Error}")]
    private partial void LogShipmentFailed(string checkpointId, string jobId, string holder, string target, string error);

    [LoggerMessage(47, LogLevel.Information, "Job {JobId} resumed; it restores checkpoint {CheckpointId} where it is placed")]
    private partial void LogResumed(string jobId, string checkpointId);

    [LoggerMessage(49, LogLevel.Information, "Preempted job {JobId} is restarted, not checkpointed: {Reason}")]
    private partial void LogNotCheckpointedAway(string jobId, string reason);

    [LoggerMessage(48, LogLevel.Debug, "Periodic checkpoint of job {JobId} skipped: {Reason}")]
    private partial void LogPeriodicSkipped(string jobId, string reason);
}
