namespace Scheduler.Master.Scheduling;

/// <summary>
/// Where a job is in its life, as the master reasons about it. The stored record encodes it as
/// <c>State</c> plus <c>HoldsAllocation</c> and <c>RequeueOnExit</c>; this names the combinations
/// that mean something, so the transitions in <see cref="JobTransitions"/> can be written and
/// tested as a table. A migrating job (capacity held on two nodes) will be one more phase here.
/// </summary>
internal enum JobPhase
{
    /// <summary>Waiting to be placed.</summary>
    Pending,

    /// <summary>Placed and persisted; the worker has not confirmed the agent runs yet.</summary>
    Assigned,

    /// <summary>The agent runs.</summary>
    Running,

    /// <summary>Checkpointed and stopped by a user's suspend: holds nothing; resumed, it is pending again.</summary>
    Suspended,

    /// <summary>
    /// Being stopped to run elsewhere (drain, preemption, a gang with a replica lost): its exit requeues it
    /// without using a retry (a broken gang used its retry when it broke).
    /// </summary>
    Moving,

    /// <summary>
    /// Its outcome is decided (cancelled by a user, finished by an earlier attempt whose exit was
    /// reported late, or a gang failed for good) while an agent is still being stopped and holds its capacity.
    /// </summary>
    Ending,

    Succeeded,

    Failed,

    Cancelled,
}
