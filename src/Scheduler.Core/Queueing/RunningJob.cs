namespace Scheduler.Core.Queueing;

/// <summary>
/// What the scheduler knows about a job that holds an allocation: whose it is, how important,
/// and when it is expected to end. Its resources are the allocation on its node.
/// </summary>
public sealed record RunningJob(string JobId, string Tenant, int Priority, DateTimeOffset StartedAt)
{
    /// <summary>Declared runtime; null when unknown, in which case the job is assumed never to end.</summary>
    public TimeSpan? RuntimeEstimate { get; init; }

    /// <summary>True when preempting it loses no work: it is checkpointed and requeued.</summary>
    public bool Checkpointable { get; init; }

    /// <summary>The gang it belongs to, if any; preempting one replica stops the whole gang.</summary>
    public string? GangId { get; init; }

    /// <summary>When the job is expected to end, or <see cref="DateTimeOffset.MaxValue"/> when unknown.</summary>
    public DateTimeOffset ExpectedEnd =>
        RuntimeEstimate is { } estimate && DateTimeOffset.MaxValue - StartedAt > estimate
            ? StartedAt + estimate
            : DateTimeOffset.MaxValue;
}
