using System.Collections.Immutable;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Every job the master knows, immutable, kept in submission order (by sequence) and with the unfinished
/// ones indexed apart. Readers page through it and watches replay from it without sorting anything or
/// asking the loop; the loop replaces it with <see cref="Set"/> at O(log n) per change.
/// </summary>
internal sealed class JobHistory
{
    private static readonly Comparer<JobRecord> BySequence = Comparer<JobRecord>.Create((a, b) => a.Sequence.CompareTo(b.Sequence));

    private readonly ImmutableDictionary<string, JobRecord> _byId;
    private readonly ImmutableList<JobRecord> _all;
    private readonly ImmutableSortedSet<JobRecord> _unfinished;

    private JobHistory(ImmutableDictionary<string, JobRecord> byId, ImmutableList<JobRecord> all, ImmutableSortedSet<JobRecord> unfinished)
    {
        _byId = byId;
        _all = all;
        _unfinished = unfinished;
    }

    public static JobHistory Empty { get; } = new(
        ImmutableDictionary.Create<string, JobRecord>(StringComparer.Ordinal),
        [],
        ImmutableSortedSet.Create<JobRecord>(BySequence));

    public int Count => _all.Count;

    public int UnfinishedCount => _unfinished.Count;

    public static JobHistory From(IEnumerable<JobRecord> jobs)
    {
        var ordered = jobs.OrderBy(j => j.Sequence).ToArray();
        return new JobHistory(
            ordered.ToImmutableDictionary(j => j.Id, StringComparer.Ordinal),
            [.. ordered],
            ordered.Where(j => !j.IsTerminal).ToImmutableSortedSet(BySequence));
    }

    /// <summary>Every job by id.</summary>
    public ImmutableDictionary<string, JobRecord> ById => _byId;

    public bool TryGet(string id, out JobRecord job) => _byId.TryGetValue(id, out job!);

    public JobHistory Set(JobRecord job)
    {
        var index = FirstAtOrAfter(_all, job.Sequence);
        var all = index < _all.Count && _all[index].Sequence == job.Sequence ? _all.SetItem(index, job) : _all.Insert(index, job);

        // Remove first: Add keeps an element that compares equal, which would be the stale record.
        var unfinished = _unfinished.Remove(job);
        if (!job.IsTerminal)
        {
            unfinished = unfinished.Add(job);
        }

        return new JobHistory(_byId.SetItem(job.Id, job), all, unfinished);
    }

    /// <summary>Without <paramref name="job"/> (retention removed it).</summary>
    public JobHistory Remove(JobRecord job)
    {
        var index = FirstAtOrAfter(_all, job.Sequence);
        var all = index < _all.Count && _all[index].Sequence == job.Sequence ? _all.RemoveAt(index) : _all;
        return new JobHistory(_byId.Remove(job.Id), all, _unfinished.Remove(job));
    }

    /// <summary>Jobs with a sequence below <paramref name="beforeSequence"/>, newest first; only unfinished ones when asked.</summary>
    public IEnumerable<JobRecord> NewestFirst(long beforeSequence, bool unfinishedOnly)
    {
        IReadOnlyList<JobRecord> source = unfinishedOnly ? _unfinished : _all;
        for (var i = FirstAtOrAfter(source, beforeSequence) - 1; i >= 0; i--)
        {
            yield return source[i];
        }
    }

    /// <summary>
    /// What a watch of every job starts with: each unfinished job and the <paramref name="finishedTail"/> most
    /// recently submitted finished ones, oldest first. Bounded by what is live, never by the whole history.
    /// </summary>
    public IEnumerable<JobRecord> Current(int finishedTail)
    {
        var finished = new List<JobRecord>(finishedTail);
        for (var i = _all.Count - 1; i >= 0 && finished.Count < finishedTail && _all.Count - i <= _unfinished.Count + finishedTail; i--)
        {
            if (_all[i].IsTerminal)
            {
                finished.Add(_all[i]);
            }
        }

        finished.Reverse();
        var next = 0;
        foreach (var job in _unfinished)
        {
            while (next < finished.Count && finished[next].Sequence < job.Sequence)
            {
                yield return finished[next++];
            }

            yield return job;
        }

        while (next < finished.Count)
        {
            yield return finished[next++];
        }
    }

    // Both lists are ordered by sequence; indexing an immutable list costs O(log n), so this is O(log² n).
    private static int FirstAtOrAfter(IReadOnlyList<JobRecord> ordered, long sequence)
    {
        var (low, high) = (0, ordered.Count);
        while (low < high)
        {
            var mid = low + ((high - low) / 2);
            if (ordered[mid].Sequence < sequence)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    /// <summary>True for the states a job leaves again (the ones <see cref="NewestFirst"/> can serve from its unfinished index).</summary>
    public static bool IsUnfinished(JobState state) => state is JobState.Pending or JobState.Assigned or JobState.Running or JobState.Lost or JobState.Suspended;
}
