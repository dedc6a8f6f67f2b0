using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;
using Scheduler.Master.Store;
using StoredCheckpoint = Scheduler.Master.Store.StoredCheckpoint;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Every change of a job's phase, as pure functions: the record now and an event in, the next
/// record out, or null when the event does not apply in that phase (a refusal: the caller leaves
/// the job as it is). Capacity is not touched here: the loop persists the next record first and
/// only then releases what it no longer holds, so memory is never ahead of the store. A gang job
/// goes through the same phases as one job; its replicas' events are in JobTransitions.Gang.cs,
/// and the per-agent events here refuse a gang (its agents are its replicas).
/// </summary>
internal static partial class JobTransitions
{
    public const string WaitingForPass = "waiting for the next scheduling pass";

    public static JobPhase PhaseOf(JobRecord job) => job.State switch
    {
        JobState.Pending => JobPhase.Pending,
        JobState.Suspended => JobPhase.Suspended,
        JobState.Assigned or JobState.Running when job.RequeueOnExit => JobPhase.Moving,
        JobState.Assigned => JobPhase.Assigned,
        JobState.Running => JobPhase.Running,
        // Failed while holding: a gang whose retries ran out while its other replicas are being stopped.
        JobState.Cancelled or JobState.Succeeded or JobState.Failed when job.HoldsAllocation => JobPhase.Ending,
        JobState.Cancelled => JobPhase.Cancelled,
        JobState.Succeeded => JobPhase.Succeeded,
        _ => JobPhase.Failed,
    };

    /// <summary>Pending → Assigned on <paramref name="nodeId"/>, as the next attempt.</summary>
    public static JobRecord? Place(JobRecord job, string nodeId, IReadOnlyList<GpuShare> shares, IReadOnlyList<string> gpuUuids, DateTimeOffset now) =>
        job.IsGang || PhaseOf(job) != JobPhase.Pending ? null : job with
        {
            State = JobState.Assigned,
            Attempt = job.Attempt + 1,
            NodeId = nodeId,
            AttemptNodes = job.AttemptNodesWith(job.Attempt + 1, nodeId),
            GpuShares = shares,
            GpuUuids = gpuUuids,
            HoldsAllocation = true,

            // On a node that holds the job's checkpoint it resumes from it at once; elsewhere a holder ships it first.
            RestoreFrom = job.Checkpoint is { } checkpoint && checkpoint.Nodes.Contains(nodeId) ? checkpoint.Id : "",
            PendingReason = "",
            ExitCode = null,
            Message = $"placed on {nodeId}",
            UpdatedAt = now,
        };

    /// <summary>Assigned → Running once the worker reports the agent started; no change in any other phase.</summary>
    public static JobRecord? Started(JobRecord job, DateTimeOffset now) =>
        job.IsGang || PhaseOf(job) != JobPhase.Assigned ? null : job with
        {
            State = JobState.Running,
            StartedAt = now,
            UpdatedAt = now,
            Message = $"running on {job.NodeId}",
        };

    /// <summary>The agent exited by itself with <paramref name="code"/> (null when unknown).</summary>
    public static JobRecord? Exited(JobRecord job, int? code, DateTimeOffset now) => job.IsGang ? null : PhaseOf(job) switch
    {
        JobPhase.Assigned or JobPhase.Running => Released(job, now) with
        {
            State = code == 0 ? JobState.Succeeded : JobState.Failed,
            ExitCode = code,
            Message = code == 0 ? "exited 0" : $"exited with code {code}",
            StartedAt = job.StartedAt ?? now,
            FinishedAt = now,
        },
        JobPhase.Moving => Requeued(Released(job, now) with { ExitCode = code }, $"{job.Message}; requeued from {job.NodeId}", countsAsRetry: false, now),
        // A cancelled job records how its agent ended; a job an earlier attempt finished keeps that exit 0.
        JobPhase.Ending => Released(job, now) with { ExitCode = job.State == JobState.Cancelled ? code : job.ExitCode },
        _ => null,
    };

    /// <summary>The worker could not start the agent (bad command, missing working folder): the job's own fault.</summary>
    public static JobRecord? FailedToStart(JobRecord job, string why, DateTimeOffset now) => job.IsGang ? null : PhaseOf(job) switch
    {
        JobPhase.Assigned or JobPhase.Running => Released(job, now) with
        {
            State = JobState.Failed,
            Message = $"failed to start: {why}",
            FinishedAt = now,
        },
        JobPhase.Moving => Requeued(Released(job, now), $"{job.Message}; requeued from {job.NodeId}", countsAsRetry: false, now),
        JobPhase.Ending => Released(job, now),
        _ => null,
    };

    /// <summary>The worker stopped the agent because the worker itself is shutting down: requeued, no retry used.</summary>
    public static JobRecord? HostStopped(JobRecord job, DateTimeOffset now) => PhaseOf(job) switch
    {
        JobPhase.Assigned or JobPhase.Running or JobPhase.Moving => Requeued(Released(job, now), $"{job.NodeId} shut down", countsAsRetry: false, now),
        JobPhase.Ending => Released(job, now),
        _ => null,
    };

    /// <summary>
    /// The worker killed the agent after losing the master (<paramref name="ran"/>: it reported the agent
    /// EXITED), or dropped its start unlaunched or refused it as possibly stale (FAILED_TO_START): requeued,
    /// a retry used only if the agent ran (see <see cref="LossCountsAsRetry"/>). A worker never reports a
    /// fenced agent EXITED unless its process was launched, so an agent whose RUNNING report never reached
    /// the store (the worker lost the master first) still uses a retry: a job that cuts its worker's link
    /// every time it runs reaches max_retries instead of being requeued forever.
    /// </summary>
    public static JobRecord? Fenced(JobRecord job, bool ran, DateTimeOffset now) => PhaseOf(job) switch
    {
        JobPhase.Assigned or JobPhase.Running or JobPhase.Moving =>
            Requeued(Released(job, now), $"fenced by {job.NodeId} after losing the master", LossCountsAsRetry(job, ran), now),
        JobPhase.Ending => Released(job, now),
        _ => null,
    };

    /// <summary>
    /// The node is gone (dead, or it re-registered without the agent): requeued, a retry used only if
    /// the agent had been reported running (see <see cref="LossCountsAsRetry"/>). The attempt is
    /// remembered, so a late report of its exit still counts.
    /// </summary>
    public static JobRecord? Lost(JobRecord job, string why, DateTimeOffset now) => PhaseOf(job) switch
    {
        JobPhase.Assigned or JobPhase.Running or JobPhase.Moving =>
            Requeued(Released(job, now) with { LostAttempt = job.Attempt, LostAttemptUncounted = PhaseOf(job) == JobPhase.Assigned }, why, LossCountsAsRetry(job), now),
        JobPhase.Ending => Released(job, now),
        _ => null,
    };

    /// <summary>Assigned/Running → Moving: its agent is stopped so it can run elsewhere (drain, preemption).</summary>
    public static JobRecord? Move(JobRecord job, string why, DateTimeOffset now) =>
        PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running) ? null : job with
        {
            RequeueOnExit = true,
            Message = why,
            UpdatedAt = now,
        };

    /// <summary>Running → Suspended: its checkpoint is stored and its agent stopped, so it holds nothing until resumed.</summary>
    public static JobRecord? Suspended(JobRecord job, StoredCheckpoint checkpoint, DateTimeOffset now) =>
        PhaseOf(job) != JobPhase.Running ? null : Released(job, now) with
        {
            State = JobState.Suspended,
            Checkpoint = checkpoint,
            Checkpointing = null,
            RestoreFrom = "",
            Message = $"suspended; checkpoint {checkpoint.Id} kept on {string.Join(", ", checkpoint.Nodes)}",
        };

    /// <summary>Suspended → Pending: placed again anywhere, it resumes from its checkpoint.</summary>
    public static JobRecord? Resumed(JobRecord job, DateTimeOffset now) =>
        PhaseOf(job) != JobPhase.Suspended ? null : job with
        {
            State = JobState.Pending,
            PendingReason = WaitingForPass,
            Message = $"resumed; restores checkpoint {job.Checkpoint?.Id} where it is placed",
            UpdatedAt = now,
        };

    /// <summary>
    /// Running → Pending for a preemption victim whose agent was checkpointed and stopped: back to the
    /// queue without using a retry, to resume from that checkpoint wherever it is placed next.
    /// </summary>
    public static JobRecord? CheckpointedAway(JobRecord job, StoredCheckpoint checkpoint, string why, DateTimeOffset now) =>
        PhaseOf(job) != JobPhase.Running ? null
            : Requeued(Released(job, now) with { Checkpoint = checkpoint, Checkpointing = null, RestoreFrom = "" }, why, countsAsRetry: false, now);

    /// <summary>Pending or Suspended → Cancelled; a job with an agent → Ending (capacity held until the agent is gone).</summary>
    public static JobRecord? Cancel(JobRecord job, DateTimeOffset now) =>
        PhaseOf(job) is not (JobPhase.Pending or JobPhase.Suspended or JobPhase.Assigned or JobPhase.Running or JobPhase.Moving) ? null : job with
        {
            State = JobState.Cancelled,
            Message = "cancelled by user",
            FinishedAt = now,
            UpdatedAt = now,
            PendingReason = "",
            RequeueOnExit = false,
        };

    /// <summary>
    /// A worker's late report that the attempt this master gave up on with its node has exited,
    /// while the job waits to be placed again: that exit is the job's outcome.
    /// </summary>
    public static JobRecord? LateExit(JobRecord job, int attempt, int? code, string nodeId, DateTimeOffset now) =>
        job.IsGang || PhaseOf(job) != JobPhase.Pending || job.LostAttempt != attempt || job.Attempt != attempt || job.NodeId != nodeId ? null : job with
        {
            State = code == 0 ? JobState.Succeeded : JobState.Failed,
            ExitCode = code,
            Message = code == 0 ? $"exited 0 on {nodeId} (reported after the node was given up)" : $"exited with code {code} on {nodeId}",
            PendingReason = "",
            LostAttempt = null,
            LostAttemptUncounted = false,
            StartedAt = job.StartedAt ?? now,
            FinishedAt = now,
            UpdatedAt = now,
        };

    /// <summary>
    /// The attempt this master gave up on with its node finished with exit 0 after all, reported
    /// once the job already runs again: the job has succeeded, and the rerun is stopped (Ending)
    /// rather than left to do the work a second time.
    /// </summary>
    public static JobRecord? Superseded(JobRecord job, int attempt, string nodeId, DateTimeOffset now) =>
        job.IsGang
        || PhaseOf(job) is not (JobPhase.Assigned or JobPhase.Running or JobPhase.Moving)
        || job.LostAttempt != attempt
        || attempt >= job.Attempt
        || job.NodeOf(attempt) != nodeId
            ? null
            : job with
            {
                State = JobState.Succeeded,
                ExitCode = 0,
                RequeueOnExit = false,
                LostAttempt = null,
                LostAttemptUncounted = false,
                Message = $"attempt {attempt} exited 0 on {nodeId} (reported after the node was given up); attempt {job.Attempt} is stopped",
                FinishedAt = now,
                UpdatedAt = now,
            };

    /// <summary>
    /// A worker's late report that the attempt this master gave up on with its node, without using a
    /// retry (it was never reported running), ran after all and was fenced: the retry is used now. Past
    /// max_retries the job has failed; a rerun already placed is then stopped (Ending) and holds its
    /// capacity until it has. Null when no such uncounted loss is pending (a repeated report included).
    /// </summary>
    public static JobRecord? LateFenced(JobRecord job, int attempt, string nodeId, DateTimeOffset now)
    {
        if (job.IsGang || job.IsTerminal || !job.LostAttemptUncounted || job.LostAttempt != attempt || job.NodeOf(attempt) != nodeId)
        {
            return null;
        }

        var why = $"attempt {attempt} ran on {nodeId} and was fenced (reported after the node was given up)";
        return job.Requeues >= job.MaxRetries
            ? job with
            {
                State = JobState.Failed,
                RequeueOnExit = false,
                PendingReason = "",
                LostAttemptUncounted = false,
                Message = $"lost {job.Requeues + 1} times, max_retries is {job.MaxRetries}: {why}" + (job.HoldsAllocation ? $"; attempt {job.Attempt} is stopped" : ""),
                FinishedAt = now,
                UpdatedAt = now,
            }
            : job with
            {
                Requeues = job.Requeues + 1,
                LostAttemptUncounted = false,
                UpdatedAt = now,
            };
    }

    /// <summary>Holds nothing any more: a gang's replicas still holding are gone with it (lost).</summary>
    private static JobRecord Released(JobRecord job, DateTimeOffset now) =>
        job with
        {
            HoldsAllocation = false,
            RequeueOnExit = false,
            UpdatedAt = now,
            Replicas = job.Replicas.Any(r => r.Holds) ? [.. job.Replicas.Select(r => r.Holds ? r with { Phase = ReplicaPhase.Lost } : r)] : job.Replicas,
        };

    /// <summary>
    /// Whether losing this attempt uses one of the job's retries: only when its agent ran, that is was
    /// reported running, or (<paramref name="ran"/>) its worker reports that its process exited. A start
    /// that never reached its agent (lost with a broken stream, or refused or dropped unlaunched by a
    /// worker that had lost the master) did no work and says nothing about the job, so a burst that cuts
    /// streams does not fail jobs that never ran; a job that was moving was going to be requeued anyway.
    /// </summary>
    private static bool LossCountsAsRetry(JobRecord job, bool ran = false) =>
        PhaseOf(job) == JobPhase.Running || (ran && PhaseOf(job) == JobPhase.Assigned);

    /// <summary>Back to the queue; past max_retries (when it counts) it fails instead.</summary>
    private static JobRecord Requeued(JobRecord job, string why, bool countsAsRetry, DateTimeOffset now) =>
        countsAsRetry && job.Requeues >= job.MaxRetries
            ? job with
            {
                State = JobState.Failed,
                Message = $"lost {job.Requeues + 1} times, max_retries is {job.MaxRetries}: {why}",
                FinishedAt = now,
                UpdatedAt = now,
            }
            : job with
            {
                State = JobState.Pending,
                Requeues = job.Requeues + (countsAsRetry ? 1 : 0),
                Message = $"requeued: {why}",
                PendingReason = WaitingForPass,
                UpdatedAt = now,
            };
}
