using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Retention: a finished job is deleted from the store and forgotten (List, Get, watches, request-id
/// deduplication) once the retention (--job-retention, or --job-retention-hours) has passed since it
/// finished and the request-id window (--request-id-window) since it was submitted. Checked once a minute (every half retention when that is shorter, at least every
/// second), a bounded batch at a time, so a large backlog never stalls the loop.
/// </summary>
internal sealed partial class SchedulerLoop
{
    private const int MaxCompactedPerRun = 1000;
    private static readonly TimeSpan CompactionAtMostEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan CompactionAtLeastEvery = TimeSpan.FromSeconds(1);
    private DateTimeOffset _nextCompaction;

    private async Task CompactFinishedJobsIfDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        var retention = JobRetention.Of(_options);
        if (retention <= TimeSpan.Zero || now < _nextCompaction)
        {
            return;
        }

        _nextCompaction = now + Clamp(retention / 2, CompactionAtLeastEvery, CompactionAtMostEvery);
        var cutoff = now - retention;

        // A job is its request id's only record: deleting it sooner than a client may still retry the
        // submit (the request-id window, measured from the submission) would let the retry make a
        // second job. So the window is a floor under retention, per job.
        var submittedBefore = now - JobRetention.RequestIdWindowOf(_options);

        // The newest job is kept whatever its age: a master numbers new jobs after the highest sequence
        // it loads, so deleting it would hand its id out again after a restart or a failover.
        var newest = _jobs.Count == 0 ? 0 : _jobs.Values.Max(j => j.Sequence);
        var expired = _jobs.Values
            .Where(j => j.IsTerminal && !j.HoldsAllocation && j.Sequence != newest && (j.FinishedAt ?? j.UpdatedAt) < cutoff && j.CreatedAt < submittedBefore)
            .OrderBy(j => j.Sequence)
            .Take(MaxCompactedPerRun)
            .ToList();
        if (expired.Count == 0)
        {
            return;
        }

        if (expired.Count == MaxCompactedPerRun)
        {
            // More are due: the next tick takes the next batch, so deletion keeps up with any finish rate.
            _nextCompaction = now;
        }

        // Stored first: a job forgotten in memory but still in the store would come back at the next term.
        await _store.DeleteJobsAsync([.. expired.Select(j => j.Id)], ct);
        foreach (var job in expired)
        {
            if (_jobs.Remove(job.Id, out var removed))
            {
                _jobsByNode.Update(removed, null);
                _checkpointWatch.Changed(job.Id, null);
            }

            if (_jobByRequestId.TryGetValue(job.RequestId, out var id) && id == job.Id)
            {
                _jobByRequestId.Remove(job.RequestId);
            }
        }

        _feed.Remove(expired);
        _running.JobsForgotten();
        LogCompacted(expired.Count, retention);
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan min, TimeSpan max) =>
        value < min ? min : value > max ? max : value;

    [LoggerMessage(52, LogLevel.Information, "Retention: deleted {Count} jobs finished more than {Retention} ago")]
    private partial void LogCompacted(int count, TimeSpan retention);
}
