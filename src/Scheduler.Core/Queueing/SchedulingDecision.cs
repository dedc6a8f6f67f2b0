using Scheduler.Core.Cluster;
using Scheduler.Core.Preemption;

namespace Scheduler.Core.Queueing;

/// <summary>What one scheduling cycle decided for one waiting job.</summary>
public sealed record SchedulingDecision(QueuedJob Job, Allocation? Allocation, string? Reason)
{
    /// <summary>True when the job got an allocation this cycle.</summary>
    public bool Placed => Allocation is not null;

    /// <summary>
    /// Set when the job fits nowhere but may evict lower-priority work: the master stops (or
    /// checkpoints and requeues) the victims, and the job is placed on a later pass.
    /// </summary>
    public PreemptionPlan? Preemption { get; init; }

    /// <summary>Set for the blocked head job when backfill holds room for it: where and from when.</summary>
    public Reservation? Reservation { get; init; }
}
