using System.Security.Cryptography;
using Google.Protobuf.WellKnownTypes;
using Scheduler.Contracts.V1;
using Scheduler.Core.Placement;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Live migration, coordinated: reserve the target, persist the migration on the job, authorise the
/// target, ask the source to move the agent; on the source's report, commit (the next attempt
/// starts on the target from the committed checkpoint) or roll back (reservation released, target
/// told to drop what it staged). A migration never runs two copies: the source stops its agent only
/// after the target holds the committed checkpoint, and the target starts only after that report.
/// </summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>Upper bound on one checkpoint's size, told to the target.</summary>
    private const long MaxCheckpointBytes = 16L * 1024 * 1024 * 1024;

    private async Task MigrateAsync(MigrateJob request, CancellationToken ct)
    {
        if (!_jobs.TryGetValue(request.JobId, out var job))
        {
            throw Fail(Grpc.Core.StatusCode.NotFound, $"job '{request.JobId}' not found");
        }

        var migrating = await BeginMigrationAsync(job, request.TargetNode, ct);
        request.Reply.TrySetResult(ProtoMapping.ToProto(migrating));
    }

    /// <summary>Checks, reserves, persists and sends; throws an RpcException naming why a job cannot move now.</summary>
    private async Task<JobRecord> BeginMigrationAsync(JobRecord job, string targetNode, CancellationToken ct)
    {
        var now = _time.GetUtcNow();

        if (!job.Spec.Checkpointable)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is not checkpointable: it can be restarted elsewhere, not migrated");
        }

        if (job.Checkpointing is { } checkpointing)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is being checkpointed ({checkpointing.Purpose}, {checkpointing.Id}); try again when it is done");
        }

        if (job.Migration is { } running)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is already migrating to {running.TargetNode} ({running.Id})");
        }

        if (job.State != JobState.Running || !job.HoldsAllocation || job.NodeId is null || job.RequeueOnExit)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"job {job.Id} is {job.State.ToString().ToUpperInvariant()}: only a running job can be migrated");
        }

        var source = _nodes[job.NodeId];
        if (source.Session is null || !source.Record.Capabilities.Contains(Capabilities.CheckpointAppLevel))
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"node {source.Id} cannot checkpoint this job now (disconnected, or without {Capabilities.CheckpointAppLevel})");
        }

        var allocation = ChooseTarget(job, source.Id, targetNode);
        var target = _nodes[allocation.NodeId];
        var migration = new MigrationRecord(
            $"m-{job.Id}-{job.Attempt}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}",
            source.Id,
            target.Id,
            Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            allocation.Gpus,
            [.. allocation.Gpus.Select(g => target.State.Gpus[g.Index].Uuid)],
            now);
        var migrating = job with { Migration = migration, UpdatedAt = now, Message = $"migrating to {target.Id}" };

        // Persisted before anything is reserved or sent: a successor finds it and keeps the reservation.
        await ApplyAsync([migrating], ct);
        target.State.Allocate(new Core.Cluster.Allocation(job.Id, target.Id, ProtoMapping.ToRequest(job.Spec.Resources), allocation.Gpus));
        _published.NodeChanged(target.Id);
        LogMigrationStarted(migration.Id, job.Id, job.Attempt, source.Id, target.Id);
        _commands.Send(target, new MasterCommand
        {
            ExpectMigration = new ExpectMigration { MigrationId = migration.Id, Token = migration.Token, MaxBytes = MaxCheckpointBytes, TtlS = 600 },
        });
        _commands.Send(source, new MasterCommand
        {
            MigrateAgent = new MigrateAgent
            {
                MigrationId = migration.Id,
                JobId = job.Id,
                Attempt = job.Attempt,
                TargetAddress = target.Record.TransferAddress,
                Token = migration.Token,
            },
        });
        return migrating;
    }

    /// <summary>The target's allocation: the named node if it can take the job now, else the placement policy's pick among the others.</summary>
    private Core.Cluster.Allocation ChooseTarget(JobRecord job, string sourceId, string wanted)
    {
        var demand = ProtoMapping.ToDemand(job);
        bool Eligible(NodeEntry n) => n.Id != sourceId && n.Session is not null && n.Record.TransferAddress.Length > 0
            && n.Record.Capabilities.Contains(Capabilities.CheckpointAppLevel);
        if (wanted.Length > 0)
        {
            if (!_nodes.TryGetValue(wanted, out var named))
            {
                throw Fail(Grpc.Core.StatusCode.NotFound, $"target_node '{wanted}' not found");
            }

            if (named.Id == sourceId)
            {
                throw Fail(Grpc.Core.StatusCode.InvalidArgument, $"target_node '{wanted}' is where job {job.Id} already runs");
            }

            if (!Eligible(named))
            {
                throw Fail(Grpc.Core.StatusCode.FailedPrecondition, $"target_node '{wanted}' cannot receive a migration now (disconnected, no transfer address, or without {Capabilities.CheckpointAppLevel})");
            }

            return _migrationPlacement.FindAllocation(demand, [named.State])
                ?? throw Fail(Grpc.Core.StatusCode.ResourceExhausted, $"target_node '{wanted}' cannot fit job {job.Id} now: {PlacementEngine.Filter(named.State, demand) ?? "not enough free capacity"}");
        }

        return _migrationPlacement.FindAllocation(demand, _nodes.Values.Where(Eligible).Select(n => n.State))
            ?? throw Fail(Grpc.Core.StatusCode.ResourceExhausted, $"no other node can take job {job.Id} now");
    }

    private async Task MigrationReportAsync(NodeEntry entry, MigrationReport report, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (!_jobs.TryGetValue(report.JobId, out var job) || job.Migration is not { } migration || migration.Id != report.MigrationId)
        {
            // Rolled back meanwhile (or unknown): a stopped source agent reports its exit and is requeued then.
            LogMigrationReportIgnored(report.MigrationId, report.JobId, entry.Id);
            return;
        }

        DateTimeOffset? stoppedAt = report.StoppedAt?.ToDateTimeOffset();
        if (!report.Ok)
        {
            var outcome = new MigrationOutcome(migration.Id, migration.SourceNode, migration.TargetNode, MigrationOutcome.RolledBack, report.Rounds, report.BytesSent, 0,
                migration.StartedAt, now, stoppedAt, job.Attempt, report.Error);
            var rolledBack = job with { Migration = null, LastMigration = outcome, UpdatedAt = now, Message = $"migration to {migration.TargetNode} rolled back: {report.Error}" };
            if (report.SourceStopped && JobTransitions.HostStopped(rolledBack, now) is { } requeued)
            {
                // The source stopped its agent after the final checkpoint: start it again from its queue.
                rolledBack = requeued with { Message = rolledBack.Message };
            }

            await ApplyAsync([rolledBack], ct);
            LogMigrationRolledBack(migration.Id, job.Id, report.Error);
            _metrics.MigrationEnded("rolled_back");
            if ((entry.Record.Draining || _evictions.IsVictim(job.Id)) && _jobs[job.Id] is { HoldsAllocation: true, RequeueOnExit: false } still && still.NodeId == entry.Id
                && JobTransitions.Move(still, "draining: could not migrate, stopping to restart elsewhere", now) is { } moving)
            {
                await ApplyAsync([moving], ct);
                _commands.Stop(entry, moving.Id, moving.Attempt, "node drained");
            }

            return;
        }

        // Committed on the target, stopped on the source: the next attempt starts there from it.
        var moved = new MigrationOutcome(migration.Id, migration.SourceNode, migration.TargetNode, MigrationOutcome.Moved, report.Rounds, report.BytesSent, 0,
            migration.StartedAt, now, stoppedAt, job.Attempt, "");
        var next = job with
        {
            Attempt = job.Attempt + 1,
            NodeId = migration.TargetNode,
            GpuShares = migration.TargetShares,
            GpuUuids = migration.TargetUuids,
            State = JobState.Assigned,
            HoldsAllocation = true,
            Migration = null,
            LastMigration = moved,
            RestoreFrom = "",
            AttemptNodes = job.AttemptNodesWith(job.Attempt + 1, migration.TargetNode),
            Message = $"migrated from {migration.SourceNode}",
            UpdatedAt = now,
        };
        await ApplyAsync([next], ct);
        if (_nodes.TryGetValue(migration.SourceNode, out var sourceEntry))
        {
            sourceEntry.State.Release(job.Id);
            _published.NodeChanged(sourceEntry.Id);
            _needsPass = true;
        }

        LogMigrationCommitted(migration.Id, job.Id, migration.SourceNode, migration.TargetNode, report.Rounds, report.BytesSent);
        _metrics.MigrationEnded("moved");
        if (_nodes.TryGetValue(migration.TargetNode, out var targetEntry))
        {
            _commands.Start(targetEntry, next);
        }
    }

    /// <summary>
    /// A checkpointable preemption victim: migrated away with its state when some other node can
    /// take it (its node's capacity frees at the commit), otherwise stopped and requeued like the rest.
    /// </summary>
    private async Task MakeRoomByMigratingAsync(JobRecord victim, DateTimeOffset now, CancellationToken ct)
    {
        try
        {
            if (_jobs.TryGetValue(victim.Id, out var current) && current.Migration is null && current.HoldsAllocation
                && !await TryMigrateAwayAsync(current, ct)
                && !await TryCheckpointAwayAsync(current, ct)
                && JobTransitions.Move(current, "preempted; no other node could take it live and it could not be checkpointed, restarting", now) is { } moving)
            {
                await ApplyAsync([moving], ct);
                _commands.Stop(_nodes[moving.NodeId!], moving.Id, moving.Attempt, moving.Message);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            if (ex is LeadershipLostException)
            {
                _term.End(ex.Message);
            }

            // Not stored: the next pass plans again.
            _needsPass = true;
            LogPersistFailed(1, ex);
        }
    }

    /// <summary>A preemption victim no node can take live: checkpointed and stopped, to resume later; false when it cannot be.</summary>
    private async Task<bool> TryCheckpointAwayAsync(JobRecord job, CancellationToken ct)
    {
        try
        {
            await BeginCheckpointAsync(job, CheckpointOperation.Preempt, ct);
            return true;
        }
        catch (Grpc.Core.RpcException ex) when (ex.StatusCode == Grpc.Core.StatusCode.FailedPrecondition)
        {
            LogNotCheckpointedAway(job.Id, ex.Status.Detail);
            return false;
        }
    }

    /// <summary>
    /// Keeps stored migrations consistent with the rest of a record: one whose attempt ended (exit,
    /// loss, requeue, cancel) is rolled back here, before the record is persisted.
    /// </summary>
    private static JobRecord EndMigrationIfAttemptEnded(JobRecord record, JobRecord? previous, DateTimeOffset now)
    {
        if (record.Migration is { } m && (record.IsTerminal || !record.HoldsAllocation || record.Attempt != previous?.Attempt || record.NodeId != m.SourceNode))
        {
            return record with
            {
                Migration = null,
                LastMigration = new MigrationOutcome(m.Id, m.SourceNode, m.TargetNode, MigrationOutcome.RolledBack, 0, 0, 0, m.StartedAt, now, null, previous?.Attempt ?? record.Attempt,
                    "the attempt being migrated ended first"),
            };
        }

        return record;
    }

    /// <summary>After a record without its migration is stored: free the target's reservation and tell the target to drop what it staged.</summary>
    private void ReleaseMigration(JobRecord? previous, JobRecord record)
    {
        if (previous?.Migration is not { } m || record.Migration is not null)
        {
            return;
        }

        var committed = record.NodeId == m.TargetNode && record.Attempt == previous.Attempt + 1;
        if (!committed && _nodes.TryGetValue(m.TargetNode, out var target))
        {
            target.State.Release(record.Id);
            _published.NodeChanged(target.Id);
            _needsPass = true;
            _commands.Send(target, new MasterCommand { CancelMigration = new CancelMigration { MigrationId = m.Id } });
        }
    }

    /// <summary>
    /// The attempt that resumed from a migration's checkpoint has ended (finished, requeued, lost):
    /// the target may delete that checkpoint (the same CancelMigration, which keeps it while an agent
    /// still runs from it).
    /// </summary>
    private void ForgetRestoredCheckpoint(JobRecord? previous, JobRecord record)
    {
        if (previous is { HoldsAllocation: true, LastMigration: { Phase: MigrationOutcome.Moved } moved }
            && !record.HoldsAllocation
            && previous.Attempt == moved.Attempt + 1
            && previous.NodeId == moved.TargetNode
            && _nodes.TryGetValue(moved.TargetNode, out var target))
        {
            _commands.Send(target, new MasterCommand { CancelMigration = new CancelMigration { MigrationId = moved.Id } });
        }
    }

    /// <summary>The migrated attempt's agent runs on the target: the downtime is known (source stopped → target running).</summary>
    private JobRecord WithDowntime(JobRecord running, DateTimeOffset runningAt)
    {
        if (running.LastMigration is { Phase: MigrationOutcome.Moved, DowntimeMs: 0, StoppedAt: { } stopped } moved && running.Attempt == moved.Attempt + 1)
        {
            var downtime = (long)Math.Max(1, (runningAt - stopped).TotalMilliseconds);
            LogMigrationDowntime(moved.Id, running.Id, downtime);
            _metrics.Migrated(downtime);
            return running with { LastMigration = moved with { DowntimeMs = downtime } };
        }

        return running;
    }

    private static Grpc.Core.RpcException Fail(Grpc.Core.StatusCode code, string detail) => new(new Grpc.Core.Status(code, detail));

    [LoggerMessage(30, LogLevel.Information, "Migration {MigrationId}: job {JobId} attempt {Attempt} from {Source} to {Target}")]
    private partial void LogMigrationStarted(string migrationId, string jobId, int attempt, string source, string target);

    [LoggerMessage(31, LogLevel.Information, "Migration {MigrationId}: job {JobId} moved from {Source} to {Target} ({Rounds} rounds, {Bytes} bytes)")]
    private partial void LogMigrationCommitted(string migrationId, string jobId, string source, string target, int rounds, long bytes);

    [LoggerMessage(32, LogLevel.Warning, "Migration {MigrationId}: job {JobId} rolled back: {Error}")]
    private partial void LogMigrationRolledBack(string migrationId, string jobId, string error);

    [LoggerMessage(33, LogLevel.Information, "Migration {MigrationId}: job {JobId} running on its target; downtime {DowntimeMs} ms")]
    private partial void LogMigrationDowntime(string migrationId, string jobId, long downtimeMs);

    [LoggerMessage(35, LogLevel.Information, "Draining: job {JobId} is restarted elsewhere, not migrated: {Reason}")]
    private partial void LogDrainRestarts(string jobId, string reason);

    [LoggerMessage(34, LogLevel.Information, "Migration report {MigrationId} for job {JobId} from {NodeId} ignored: no such migration under way")]
    private partial void LogMigrationReportIgnored(string migrationId, string jobId, string nodeId);
}

/// <summary>Capability names workers report at registration.</summary>
internal static class Capabilities
{
    public const string CheckpointAppLevel = "checkpoint.app-level";
}
