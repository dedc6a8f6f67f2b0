using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Backup and restore: a snapshot is every record as of one moment of the loop (records are
/// immutable, so the lists are taken here and written out elsewhere); a restore fills a fresh
/// cluster's store and ends this term, so the next one loads it like any takeover.
/// </summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>Records stored per transaction while restoring.</summary>
    private const int RestoreBatch = 256;

    private Task TakeSnapshot(TakeSnapshot request)
    {
        request.Reply.TrySetResult(new Snapshot(
            [.. _jobs.Values],
            [.. _nodes.Values.Select(n => n.Record)],
            _epoch,
            _time.GetUtcNow(),
            _store.Kind));
        return Task.CompletedTask;
    }

    private async Task RestoreSnapshotAsync(RestoreSnapshot request, CancellationToken ct)
    {
        if (_jobs.Count > 0 || _nodes.Count > 0)
        {
            throw Fail(Grpc.Core.StatusCode.FailedPrecondition,
                $"a snapshot restores into a fresh cluster only: this one knows {_jobs.Count} jobs and {_nodes.Count} nodes (start a master on an empty store)");
        }

        var snapshot = request.Snapshot;

        // Past every epoch the snapshot's workers may have obeyed, so they take this master's commands.
        var epoch = await _store.RaiseEpochAsync(Math.Max(_epoch, snapshot.Epoch) + 1, ct);
        foreach (var node in snapshot.Nodes)
        {
            await _store.SaveNodeAsync(node, ct);
        }

        foreach (var batch in snapshot.Jobs.Chunk(RestoreBatch))
        {
            await _store.SaveJobsAsync(batch, ct);
        }

        LogSnapshotRestored(snapshot.Jobs.Count, snapshot.Nodes.Count, snapshot.TakenAt, epoch);
        request.Reply.TrySetResult(new RestoreSnapshotResponse { Jobs = snapshot.Jobs.Count, Nodes = snapshot.Nodes.Count, Epoch = epoch });

        // The next term loads what was stored, as after a failover: nodes await their workers, and
        // jobs that were running are requeued unless their workers come back with them.
        _term.End("a snapshot was restored; a new term loads it");
    }

    [LoggerMessage(50, LogLevel.Warning, "Restored a snapshot taken {TakenAt}: {Jobs} jobs, {Nodes} nodes; epoch raised to {Epoch}; this term ends so the next one loads it")]
    private partial void LogSnapshotRestored(int jobs, int nodes, DateTimeOffset takenAt, long epoch);
}
