using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Retention: a finished job is deleted from the store and forgotten (List, Get, watches, request-id
/// deduplication) once --job-retention-hours have passed since it finished. Checked once a minute,
/// a bounded batch at a time, so a large backlog never stalls the loop.
/// </summary>
internal sealed partial class SchedulerLoop
{
    private const int MaxCompactedPerRun = 1000;
    private static readonly TimeSpan CompactionEvery = TimeSpan.FromMinutes(1);
    private DateTimeOffset _nextCompaction;

    private async Task CompactFinishedJobsIfDueAsync(DateTimeOffset now, CancellationToken ct)
    {
        if (_options.JobRetentionHours <= 0 || now < _nextCompaction)
        {
            return;
        }

        _nextCompaction = now + CompactionEvery;
        var cutoff = now - TimeSpan.FromHours(_options.JobRetentionHours);

        // The newest job is kept whatever its age: a master numbers new jobs after the highest sequence
        // it loads, so deleting it would hand its id out again after a restart or a failover.
        var newest = _jobs.Count == 0 ? 0 : _jobs.Values.Max(j => j.Sequence);
        var expired = _jobs.Values
            .Where(j => j.IsTerminal && !j.HoldsAllocation && j.Sequence != newest && (j.FinishedAt ?? j.UpdatedAt) < cutoff)
            .OrderBy(j => j.Sequence)
            .Take(MaxCompactedPerRun)
            .ToList();
        if (expired.Count == 0)
        {
            return;
        }

        // Stored first: a job forgotten in memory but still in the store would come back at the next term.
        await _store.DeleteJobsAsync([.. expired.Select(j => j.Id)], ct);
        foreach (var job in expired)
        {
            _jobs.Remove(job.Id);
            if (_jobByRequestId.TryGetValue(job.RequestId, out var id) && id == job.Id)
            {
                _jobByRequestId.Remove(job.RequestId);
            }

            _published.JobRemoved(job.Id);
        }

        _feed.Remove(expired);
        LogCompacted(expired.Count, _options.JobRetentionHours);
    }

    [LoggerMessage(52, LogLevel.Information, "Retention: deleted {Count} jobs finished more than {Hours} h ago")]
    private partial void LogCompacted(int count, int hours);
}
