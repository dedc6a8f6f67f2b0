using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>
/// A live migration under way, stored on its job: the target's capacity is reserved (its GPUs
/// named here) until the migration is committed (the job's next attempt starts there from the
/// checkpoint) or rolled back. A new leader finds it in the store and keeps the reservation.
/// </summary>
internal sealed record MigrationRecord(
    string Id,
    string SourceNode,
    string TargetNode,
    string Token,
    IReadOnlyList<GpuShare> TargetShares,
    IReadOnlyList<string> TargetUuids,
    DateTimeOffset StartedAt);

/// <summary>How the last migration of a job ended, with its measurements.</summary>
internal sealed record MigrationOutcome(
    string Id,
    string SourceNode,
    string TargetNode,
    string Phase,
    int Rounds,
    long BytesSent,
    long DowntimeMs,
    DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt,
    DateTimeOffset? StoppedAt,
    int Attempt,
    string Error)
{
    public const string Moved = "moved";
    public const string RolledBack = "rolled back";
}
