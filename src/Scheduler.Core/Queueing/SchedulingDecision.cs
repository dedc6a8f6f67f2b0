using Scheduler.Core.Cluster;

namespace Scheduler.Core.Queueing;

/// <summary>What one scheduling cycle decided for one waiting job.</summary>
public sealed record SchedulingDecision(QueuedJob Job, Allocation? Allocation, string? Reason)
{
    /// <summary>True when the job got an allocation this cycle.</summary>
    public bool Placed => Allocation is not null;
}
