using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>The mutable part of a job, stored as JSON beside its immutable spec (SQLite and etcd alike).</summary>
internal sealed record JobStatusRow(
    JobState State,
    int Attempt,
    string? NodeId,
    IReadOnlyList<GpuShare> GpuShares,
    IReadOnlyList<string> GpuUuids,
    int? ExitCode,
    string Message,
    int Requeues,
    bool RequeueOnExit,
    bool HoldsAllocation,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    int? LostAttempt = null,
    IReadOnlyList<string>? AttemptNodes = null,
    MigrationRecord? Migration = null,
    MigrationOutcome? LastMigration = null,
    StoredCheckpoint? Checkpoint = null,
    CheckpointOperation? Checkpointing = null,
    string? RestoreFrom = null,
    IReadOnlyList<ReplicaRecord>? Replicas = null,
    IReadOnlyList<ReplicaRecord>? LostReplicas = null,
    bool? LostAttemptUncounted = null)
{
    public static JobStatusRow From(JobRecord j) => new(
        j.State, j.Attempt, j.NodeId, j.GpuShares, j.GpuUuids, j.ExitCode, j.Message, j.Requeues,
        j.RequeueOnExit, j.HoldsAllocation, j.CreatedAt, j.UpdatedAt, j.StartedAt, j.FinishedAt, j.LostAttempt, j.AttemptNodes,
        j.Migration, j.LastMigration, j.Checkpoint, j.Checkpointing, j.RestoreFrom.Length == 0 ? null : j.RestoreFrom,
        j.Replicas.Count == 0 ? null : j.Replicas,
        j.LostReplicas.Count == 0 ? null : j.LostReplicas,
        j.LostAttemptUncounted ? true : null);

    public JobRecord ToRecord(string id, long seq, string requestId, JobSpec spec) => new()
    {
        Id = id,
        Sequence = seq,
        RequestId = requestId,
        Spec = spec,
        State = State,
        Attempt = Attempt,
        NodeId = NodeId,
        GpuShares = GpuShares,
        GpuUuids = GpuUuids,
        ExitCode = ExitCode,
        Message = Message,
        Requeues = Requeues,
        RequeueOnExit = RequeueOnExit,
        HoldsAllocation = HoldsAllocation,
        CreatedAt = CreatedAt,
        UpdatedAt = UpdatedAt,
        StartedAt = StartedAt,
        FinishedAt = FinishedAt,
        LostAttempt = LostAttempt,
        AttemptNodes = AttemptNodes ?? [],
        Migration = Migration,
        LastMigration = LastMigration,
        Checkpoint = Checkpoint,
        Checkpointing = Checkpointing,
        RestoreFrom = RestoreFrom ?? "",
        Replicas = Replicas ?? [],
        LostReplicas = LostReplicas ?? [],
        LostAttemptUncounted = LostAttemptUncounted ?? false,
    };
}
