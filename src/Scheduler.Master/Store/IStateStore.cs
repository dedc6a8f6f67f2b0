namespace Scheduler.Master.Store;

/// <summary>
/// Durable cluster state. Only the leader's scheduling loop writes, and it writes before it acts
/// (persist before dispatch), so what a new leader loads is never behind what workers were told.
/// </summary>
internal interface IStateStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "etcd".</summary>
    string Kind { get; }

    /// <summary>Starts a new leader term and returns its epoch, greater than every earlier one.</summary>
    Task<long> BeginTermAsync(CancellationToken cancellationToken);

    /// <summary>Raises the current epoch to at least <paramref name="atLeast"/> (never lowers it) and returns it.</summary>
    Task<long> RaiseEpochAsync(long atLeast, CancellationToken cancellationToken);

    Task<StoredState> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Writes all records in one transaction: either every one is stored or none.</summary>
    Task SaveJobsAsync(IReadOnlyCollection<JobRecord> jobs, CancellationToken cancellationToken);

    Task SaveNodeAsync(NodeRecord node, CancellationToken cancellationToken);

    /// <summary>
    /// Writes jobs and nodes together, as <see cref="SaveJobsAsync"/> writes jobs: one transaction (on
    /// etcd, transactions split under its limits; a failure after one of them committed is a
    /// <see cref="PartialWriteException"/>). The loop's group write: one inbox batch's submits, agents'
    /// reports and registrations.
    /// </summary>
    Task SaveAsync(IReadOnlyCollection<JobRecord> jobs, IReadOnlyCollection<NodeRecord> nodes, CancellationToken cancellationToken);

    /// <summary>Deletes finished jobs (retention); on etcd a long list is deleted in several transactions.</summary>
    Task DeleteJobsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken);
}
