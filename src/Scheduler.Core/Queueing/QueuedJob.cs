using Scheduler.Core.Placement;

namespace Scheduler.Core.Queueing;

/// <summary>
/// A job waiting to be placed. <see cref="Sequence"/> breaks ties in arrival order. The optional
/// properties carry what the queue, backfill, gang placement and preemption need beyond size.
/// </summary>
public sealed record QueuedJob(
    JobDemand Demand,
    int Priority,
    DateTimeOffset EnqueuedAt,
    long Sequence,
    string Tenant = "default")
{
    /// <summary>How long the job says it will run; null when it did not say.</summary>
    public TimeSpan? RuntimeEstimate { get; init; }

    /// <summary>The gang this job is a replica of; null for a job on its own.</summary>
    public string? GangId { get; init; }

    /// <summary>Replicas in the gang (1 for a job on its own); all are placed in one cycle or none.</summary>
    public int GangSize { get; init; } = 1;

    /// <summary>True when the job can be checkpointed and resumed, which makes it a cheaper victim.</summary>
    public bool Checkpointable { get; init; }

    /// <summary>The job's id, as placement and allocations know it.</summary>
    public string JobId => Demand.JobId;
}
