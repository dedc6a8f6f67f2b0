using Scheduler.Core.Queueing;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The queued form of each pending job, kept from pass to pass: rebuilt only when the job's record
/// changes (a new record object), so a pass over a long backlog allocates nothing for the jobs that
/// did not change. A gang's entry is one queued replica per rank.
/// </summary>
internal sealed class QueueEntries
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public int Count => _entries.Count;

    /// <summary>The queued jobs of <paramref name="job"/>, built by <paramref name="build"/> unless its record is the one they were built from.</summary>
    public QueuedJob[] For(JobRecord job, Func<JobRecord, QueuedJob[]> build)
    {
        if (_entries.TryGetValue(job.Id, out var entry) && ReferenceEquals(entry.Source, job))
        {
            return entry.Queued;
        }

        var queued = build(job);
        _entries[job.Id] = new Entry(job, queued);
        return queued;
    }

    /// <summary>A job no longer pending: its entry goes.</summary>
    public void Forget(string jobId) => _entries.Remove(jobId);

    private readonly record struct Entry(JobRecord Source, QueuedJob[] Queued);
}
