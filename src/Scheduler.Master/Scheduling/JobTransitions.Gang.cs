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

        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Exited, ExitCode = code }, now);
        if (PhaseOf(job) is JobPhase.Assigned or JobPhase.Running)
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
    public static JobRecord? ReplicaLost(JobRecord job, int rank, string why, bool countsAsRetry, DateTimeOffset now)
    {
        if (ReplicaOf(job, rank) is not { Holds: true })
        {
            return null;
        }

        var next = WithReplica(job, rank, r => r with { Phase = ReplicaPhase.Lost }, now);
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
