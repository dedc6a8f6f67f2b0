using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// A gang job's replicas. The gang moves through the same phases as a single job; what differs is
/// that its agents report one by one. One replica that fails or is lost breaks the gang: every other
/// replica is stopped and, once the last has exited, the gang is requeued (one retry used) or, past
/// max_retries, has failed. It is placed all at once and holds nothing while it waits.
/// </summary>
internal static partial class JobTransitions
{
    /// <summary>Pending → Assigned with every replica placed, as the next attempt: one record, one store write.</summary>
    public static JobRecord? PlaceGang(JobRecord job, IReadOnlyList<ReplicaRecord> replicas, DateTimeOffset now) =>
        !job.IsGang || PhaseOf(job) != JobPhase.Pending || replicas.Count != job.Size || replicas.Any(r => r.Phase != ReplicaPhase.Assigned)
            ? null
            : job with
            {
                State = JobState.Assigned,
                Attempt = job.Attempt + 1,
                NodeId = replicas[0].NodeId,
                AttemptNodes = job.AttemptNodesWith(job.Attempt + 1, replicas[0].NodeId),
                GpuShares = [],
                GpuUuids = [],
                Replicas = replicas,
                LostAttempt = job.Replicas.Any(r => r.Phase == ReplicaPhase.Lost) ? job.Attempt : job.LostAttempt,
                LostReplicas = job.Replicas.Any(r => r.Phase == ReplicaPhase.Lost) ? job.Replicas : job.LostReplicas,
                HoldsAllocation = true,
                RestoreFrom = "",
                PendingReason = "",
                ExitCode = null,
                Message = $"placed {replicas.Count} replicas on {string.Join(", ", replicas.Select(r => r.NodeId).Distinct(StringComparer.Ordinal))}",
                UpdatedAt = now,
            };

    /// <summary>A replica's agent runs; the gang runs once all of them do. Null when nothing changes.</summary>
    public static JobRecord? ReplicaStarted(JobRecord job, int rank, DateTimeOffset now)
    {
        if (ReplicaOf(job, rank) is not { Phase: ReplicaPhase.Assigned } || PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running or JobPhase.Moving or JobPhase.Ending))
        {
            return null;
        }

        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Running }, now);
        return PhaseOf(job) == JobPhase.Assigned && next.Replicas.All(r => r.Phase == ReplicaPhase.Running)
            ? next with { State = JobState.Running, StartedAt = now, Message = $"running {next.Replicas.Count} replicas" }
            : next;
    }

    /// <summary>
    /// A replica's agent exited with <paramref name="code"/>. Exit 0 of every replica is the gang's
    /// success; any other exit of a running gang breaks it (one retry used).
    /// </summary>
    public static JobRecord? ReplicaExited(JobRecord job, int rank, int? code, DateTimeOffset now)
    {
        if (ReplicaOf(job, rank) is not { Holds: true })
        {
            return null;
        }

        var stopped = PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running);
        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Exited, ExitCode = code, Stopped = stopped }, now);
        if (!stopped)
        {
            if (code != 0)
            {
                return Broken(next, Invariant($"replica {rank} on {ReplicaOf(job, rank)!.NodeId} exited with code {code?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}"), countsAsRetry: true, now);
            }

            return next.Replicas.All(r => r.Phase == ReplicaPhase.Exited && r.ExitCode == 0)
                ? next with
                {
                    State = JobState.Succeeded,
                    ExitCode = 0,
                    Message = $"all {next.Replicas.Count} replicas exited 0",
                    StartedAt = job.StartedAt ?? now,
                    FinishedAt = now,
                }
                : next;
        }

        return AfterStop(next, now);
    }

    /// <summary>A replica could not be started (bad command, missing working folder): the job's own fault, so the gang fails.</summary>
    public static JobRecord? ReplicaFailedToStart(JobRecord job, int rank, string why, DateTimeOffset now)
    {
        if (ReplicaOf(job, rank) is not { Holds: true } replica)
        {
            return null;
        }

        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Exited }, now);
        if (PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running))
        {
            return AfterStop(next, now);
        }

        var failed = next with
        {
            State = JobState.Failed,
            RequeueOnExit = false,
            Message = Invariant($"replica {rank} failed to start on {replica.NodeId}: {why}"),
            FinishedAt = now,
        };
        return failed.HoldsAllocation ? failed : Released(failed, now);
    }

    /// <summary>
    /// A replica's agent is gone without the job's doing: its node died or no longer runs it, it was
    /// fenced (<paramref name="countsAsRetry"/>), or its host shut down (no retry used). The gang breaks.
    /// </summary>
    /// <param name="toldToStop">
    /// Whether the master had told it to stop before this event; by default, whether its gang was being stopped. A replica
    /// lost after that stop went out is marked stopped, so an exit reported late says nothing of its work.
    /// </param>
    public static JobRecord? ReplicaLost(JobRecord job, int rank, string why, bool countsAsRetry, DateTimeOffset now, bool? toldToStop = null)
    {
        if (ReplicaOf(job, rank) is not { Holds: true })
        {
            return null;
        }

        var stopped = toldToStop ?? PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running);
        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Lost, Stopped = stopped }, now);
        return PhaseOf(job) is JobPhase.Assigned or JobPhase.Running ? Broken(next, why, countsAsRetry, now) : AfterStop(next, now);
    }

    /// <summary>
    /// One replica is gone: the others are to be stopped (Moving: requeued once the last exits, with the
    /// retry already counted), or, past max_retries, the gang has failed (Ending while they stop).
    /// </summary>
    private static JobRecord Broken(JobRecord job, string why, bool countsAsRetry, DateTimeOffset now)
    {
        if (!job.HoldsAllocation)
        {
            return Requeued(Released(job, now), why, countsAsRetry, now);
        }

        if (countsAsRetry && job.Requeues >= job.MaxRetries)
        {
            return job with
            {
                State = JobState.Failed,
                Message = $"lost {job.Requeues + 1} times, max_retries is {job.MaxRetries}: {why}; the other replicas are stopped",
                FinishedAt = now,
                UpdatedAt = now,
            };
        }

        return job with
        {
            Requeues = job.Requeues + (countsAsRetry ? 1 : 0),
            RequeueOnExit = true,
            Message = $"{why}: the gang is stopped to be requeued",
            UpdatedAt = now,
        };
    }

    /// <summary>A replica of a gang being stopped is gone: once none holds anything, the gang is requeued (Moving) or done (Ending).</summary>
    private static JobRecord AfterStop(JobRecord job, DateTimeOffset now)
    {
        if (job.HoldsAllocation)
        {
            return job;
        }

        return PhaseOf(job with { HoldsAllocation = true }) == JobPhase.Moving
            ? Requeued(Released(job, now), $"{job.Message}; every replica stopped", countsAsRetry: false, now)
            : Released(job, now);
    }

    /// <summary>
    /// A worker's late report that replica <paramref name="rank"/> of <paramref name="attempt"/>, given up as lost
    /// with its node, exited by itself with <paramref name="code"/>: the exit is recorded on that replica. When every
    /// replica of that attempt has now exited 0, that attempt did the gang's work: a gang waiting to be placed again
    /// has succeeded, and one already placed again has succeeded too, its rerun being stopped (Ending) rather than
    /// left to do the work a second time. Null when the report is of no replica the master gave up on there.
    /// </summary>
    public static JobRecord? ReplicaLateExit(JobRecord job, int attempt, int rank, int? code, string nodeId, DateTimeOffset now)
    {
        if (!job.IsGang)
        {
            return null;
        }

        if (job.Attempt == attempt)
        {
            if (ReplicaOf(job, rank) is not { Phase: ReplicaPhase.Lost } lost || lost.NodeId != nodeId)
            {
                return null;
            }

            var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Exited, ExitCode = code }, now);
            return PhaseOf(job) == JobPhase.Pending && AllExitedZero(next.Replicas)
                ? next with
                {
                    State = JobState.Succeeded,
                    ExitCode = 0,
                    PendingReason = "",
                    Message = Invariant($"all {next.Replicas.Count} replicas exited 0 (replica {rank} reported after {nodeId} was given up)"),
                    StartedAt = job.StartedAt ?? now,
                    FinishedAt = now,
                }
                : next;
        }

        if (job.LostAttempt != attempt || attempt >= job.Attempt || rank < 0 || rank >= job.LostReplicas.Count
            || job.LostReplicas[rank] is not { Phase: ReplicaPhase.Lost } earlier || earlier.NodeId != nodeId)
        {
            return null;
        }

        var replicas = job.LostReplicas.ToArray();
        replicas[rank] = earlier with { Phase = ReplicaPhase.Exited, ExitCode = code };
        var recorded = job with { LostReplicas = replicas, UpdatedAt = now };
        if (!AllExitedZero(replicas) || PhaseOf(job) is not (JobPhase.Pending or JobPhase.Assigned or JobPhase.Running or JobPhase.Moving))
        {
            return recorded;
        }

        var done = recorded with
        {
            State = JobState.Succeeded,
            ExitCode = 0,
            RequeueOnExit = false,
            PendingReason = "",
            Message = Invariant($"attempt {attempt}: all {replicas.Length} replicas exited 0 (replica {rank} reported after {nodeId} was given up); attempt {job.Attempt} is stopped"),
            FinishedAt = now,
        };
        return done.HoldsAllocation ? done : Released(done, now);
    }

    /// <summary>
    /// A replica of the gang's current attempt, given up as lost with its node, reported running again (its
    /// worker came back before fencing it): it holds its capacity again and is to be stopped, and the gang is
    /// not placed again until it has exited. A waiting gang goes back to being stopped (Moving, its retry
    /// already counted); one that has ended stays ended while it stops (Ending). Null when it is no such replica.
    /// </summary>
    public static JobRecord? ReplicaReturned(JobRecord job, int attempt, int rank, string nodeId, DateTimeOffset now)
    {
        if (!job.IsGang || job.Attempt != attempt || ReplicaOf(job, rank) is not { Phase: ReplicaPhase.Lost } lost || lost.NodeId != nodeId)
        {
            return null;
        }

        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Running }, now);
        return PhaseOf(job) == JobPhase.Pending
            ? next with
            {
                State = JobState.Assigned,
                RequeueOnExit = true,
                PendingReason = "",
                Message = Invariant($"replica {rank} still runs on {nodeId}, given up earlier: it is stopped before the gang is placed again"),
            }
            : next;
    }

    /// <summary>
    /// A replica given up as lost with its node, reported running again and stopped by the master rather than
    /// held again (the gang was placed again, or its capacity went to another job): marked stopped before the
    /// stop goes out, so its exit, whatever its code, is not taken for the gang's work. Null when it is no such
    /// replica, or is marked already.
    /// </summary>
    public static JobRecord? LostReplicaStopped(JobRecord job, int attempt, int rank, string nodeId, DateTimeOffset now)
    {
        if (!job.IsGang)
        {
            return null;
        }

        if (job.Attempt == attempt)
        {
            return ReplicaOf(job, rank) is { Phase: ReplicaPhase.Lost, Stopped: false } lost && lost.NodeId == nodeId
                ? WithReplica(job, rank, r => r with { Stopped = true }, now)
                : null;
        }

        if (job.LostAttempt != attempt || attempt >= job.Attempt || rank < 0 || rank >= job.LostReplicas.Count
            || job.LostReplicas[rank] is not { Phase: ReplicaPhase.Lost, Stopped: false } earlier || earlier.NodeId != nodeId)
        {
            return null;
        }

        var replicas = job.LostReplicas.ToArray();
        replicas[rank] = earlier with { Stopped = true };
        return job with { LostReplicas = replicas, UpdatedAt = now };
    }

    // Every replica finished by itself with exit 0: none was told to stop first.
    private static bool AllExitedZero(IReadOnlyList<ReplicaRecord> replicas) =>
        replicas.Count > 0 && replicas.All(r => r.Phase == ReplicaPhase.Exited && r.ExitCode == 0 && !r.Stopped);

    private static ReplicaRecord? ReplicaOf(JobRecord job, int rank) =>
        job.IsGang && rank >= 0 && rank < job.Replicas.Count ? job.Replicas[rank] : null;

    /// <summary>The job with replica <paramref name="rank"/> changed; it holds capacity while any replica does.</summary>
    private static JobRecord WithReplica(JobRecord job, int rank, Func<ReplicaRecord, ReplicaRecord> change, DateTimeOffset now)
    {
        var replicas = job.Replicas.ToArray();
        replicas[rank] = change(replicas[rank]);
        return job with { Replicas = replicas, HoldsAllocation = replicas.Any(r => r.Holds), UpdatedAt = now };
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
