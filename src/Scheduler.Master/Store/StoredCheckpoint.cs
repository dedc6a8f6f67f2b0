namespace Scheduler.Master.Store;

/// <summary>
/// The newest checkpoint of a job kept on workers (each holder's restore folder named <see cref="Id"/>):
/// a job placed again resumes from it, on a holder directly or elsewhere after a holder ships it.
/// </summary>
internal sealed record StoredCheckpoint(string Id, IReadOnlyList<string> Nodes, int Attempt, long Bytes, DateTimeOffset TakenAt);

/// <summary>
/// A checkpoint being taken of the job's current attempt, stored on the job so that a new leader
/// still accepts its report. <see cref="Purpose"/> says what its success does to the job.
/// </summary>
internal sealed record CheckpointOperation(string Id, string Purpose, string Node, int Attempt, IReadOnlyList<string> Targets, bool Stop, DateTimeOffset StartedAt)
{
    /// <summary>Checkpointed, stopped, capacity freed; SUSPENDED until resumed.</summary>
    public const string Suspend = "suspend";

    /// <summary>A preemption victim that no node could take live: checkpointed, stopped, requeued to resume later.</summary>
    public const string Preempt = "preempt";

    /// <summary>The job's checkpoint interval elapsed: replicated to a peer while the agent runs on.</summary>
    public const string Periodic = "periodic";
}
