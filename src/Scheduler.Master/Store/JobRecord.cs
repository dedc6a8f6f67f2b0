using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>
/// The master's durable view of one job. Immutable: the scheduling loop replaces a record with a
/// modified copy and persists it before acting on the change. <see cref="Spec"/> is validated at
/// submit and never mutated afterwards.
/// </summary>
internal sealed record JobRecord
{
    public required string Id { get; init; }

    public required long Sequence { get; init; }

    public required string RequestId { get; init; }

    public required JobSpec Spec { get; init; }

    public required JobState State { get; init; }

    public string PendingReason { get; init; } = "";

    public int Attempt { get; init; }

    public string? NodeId { get; init; }

    public IReadOnlyList<GpuShare> GpuShares { get; init; } = [];

    public IReadOnlyList<string> GpuUuids { get; init; } = [];

    public int? ExitCode { get; init; }

    public string Message { get; init; } = "";

    public int Requeues { get; init; }

    /// <summary>The node of each attempt, attempt 1 first ("" where not recorded), so the output of an earlier attempt can be found.</summary>
    public IReadOnlyList<string> AttemptNodes { get; init; } = [];

    /// <summary>Set when the running attempt is being stopped to move the job (drain): its exit requeues it.</summary>
    public bool RequeueOnExit { get; init; }

    /// <summary>
    /// The attempt this master gave up on with its node (lost, not exited) and has heard no exit
    /// of: a late report of that attempt's exit is still the job's outcome.
    /// </summary>
    public int? LostAttempt { get; init; }

    /// <summary>
    /// <see cref="LostAttempt"/> was requeued without using a retry, its agent never reported running;
    /// a late report that its process did run (exited, fenced by its worker) uses that retry then.
    /// </summary>
    public bool LostAttemptUncounted { get; init; }

    /// <summary>A live migration of the current attempt under way (capacity also reserved on its target).</summary>
    public MigrationRecord? Migration { get; init; }

    /// <summary>How the last migration ended.</summary>
    public MigrationOutcome? LastMigration { get; init; }

    /// <summary>The newest stored checkpoint: the next placement resumes from it.</summary>
    public StoredCheckpoint? Checkpoint { get; init; }

    /// <summary>A checkpoint of the current attempt being taken now.</summary>
    public CheckpointOperation? Checkpointing { get; init; }

    /// <summary>The restore folder (on <see cref="NodeId"/>) the current attempt starts from; "" to start afresh.</summary>
    public string RestoreFrom { get; init; } = "";

    /// <summary>
    /// True while the current attempt holds resources on <see cref="NodeId"/>; for a gang, while any
    /// replica holds its own (see <see cref="Replicas"/>).
    /// </summary>
    public bool HoldsAllocation { get; init; }

    /// <summary>
    /// Gang jobs: every replica of the current (or last) attempt, by rank, all written in the one
    /// record that places them. Empty for a single agent.
    /// </summary>
    public IReadOnlyList<ReplicaRecord> Replicas { get; init; } = [];

    /// <summary>
    /// Gang jobs placed again after an attempt that lost a replica with its node: that attempt's replicas
    /// (attempt <see cref="LostAttempt"/>), kept so that a late report of a lost replica's exit is still
    /// recorded, and, once every replica of that attempt has exited 0, ends the job as succeeded. Empty otherwise.
    /// </summary>
    public IReadOnlyList<ReplicaRecord> LostReplicas { get; init; } = [];

    public required DateTimeOffset CreatedAt { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>The node <paramref name="attempt"/> ran on, or null when not recorded.</summary>
    public string? NodeOf(int attempt) =>
        attempt == Attempt ? NodeId
        : attempt >= 1 && attempt <= AttemptNodes.Count && AttemptNodes[attempt - 1].Length > 0 ? AttemptNodes[attempt - 1]
        : null;

    /// <summary><see cref="AttemptNodes"/> with <paramref name="attempt"/> placed on <paramref name="nodeId"/>.</summary>
    public IReadOnlyList<string> AttemptNodesWith(int attempt, string nodeId)
    {
        var nodes = AttemptNodes.Take(attempt - 1).ToList();
        while (nodes.Count < attempt - 1)
        {
            nodes.Add("");
        }

        nodes.Add(nodeId);
        return nodes;
    }

    /// <summary>True for a gang job (spec.replicas above 1): its agents are its <see cref="Replicas"/>.</summary>
    public bool IsGang => Spec.Replicas > 1;

    /// <summary>How many agents the job runs: its gang size, or 1.</summary>
    public int Size => Math.Max(1, Spec.Replicas);

    public bool IsTerminal => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    public int MaxRetries => Spec.HasMaxRetries ? Spec.MaxRetries : Validation.JobSpecDefaults.MaxRetries;

    public int Priority => Spec.Priority == 0 ? Validation.JobSpecDefaults.Priority : Spec.Priority;
}
