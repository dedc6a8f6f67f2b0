using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>The job history as of one change: what List, Get and a starting watch read.</summary>
/// <param name="Epoch">The leader term the versions belong to; a version from another term means nothing here.</param>
/// <param name="Version">The last change included; changes are numbered from 1 within a term.</param>
internal sealed record JobFeedState(long Epoch, long Version, JobHistory History);

/// <summary>
/// Every job change, numbered, for watches: the loop appends (one writer), watch streams read at their own
/// pace. The last <see cref="Capacity"/> changes are kept in a ring, so a watch that reconnects with the
/// version it last saw gets exactly what it missed, and a slow one costs the loop nothing; one that falls
/// further behind starts again from <see cref="Current"/> instead of failing. Replaces pushing every job
/// into a bounded channel per watch, which failed any watch of a history larger than the channel.
/// </summary>
internal sealed class JobFeed
{
    public const int DefaultCapacity = 16_384;

    private readonly Change?[] _ring;
    private JobFeedState _state = new(0, 0, JobHistory.Empty);

    public JobFeed(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new Change?[capacity];
    }

    public int Capacity => _ring.Length;

    public JobFeedState Current => Volatile.Read(ref _state);

    /// <summary>Starts a term with the jobs loaded from the store. Loop only.</summary>
    public void Load(long epoch, IEnumerable<JobRecord> jobs)
    {
        Array.Clear(_ring);
        Volatile.Write(ref _state, new JobFeedState(epoch, 0, JobHistory.From(jobs)));
    }

    /// <summary>
    /// Records a change. A durable one becomes the job's current state; a transient one (LOST, shown to
    /// watches between a node's loss and the requeue) is only passed on. Loop only.
    /// </summary>
    public long Append(JobRecord job, bool durable)
    {
        var state = _state;
        var version = state.Version + 1;

        // The entry first, then the state that makes it visible: a reader never sees a version without it.
        Volatile.Write(ref _ring[version % _ring.Length], new Change(version, job));
        Volatile.Write(ref _state, state with { Version = version, History = durable ? state.History.Set(job) : state.History });
        return version;
    }

    /// <summary>Forgets jobs retention deleted: List and Get no longer find them. Loop only.</summary>
    public void Remove(IEnumerable<JobRecord> jobs)
    {
        var state = _state;
        var history = state.History;
        foreach (var job in jobs)
        {
            history = history.Remove(job);
        }

        Volatile.Write(ref _state, state with { History = history });
    }

    /// <summary>
    /// Adds the changes after version <paramref name="after"/> up to <paramref name="upTo"/> (a version read
    /// from <see cref="Current"/>) to <paramref name="into"/>; false when some were already overwritten.
    /// </summary>
    public bool TryRead(long after, long upTo, List<Change> into)
    {
        if (upTo - after > _ring.Length)
        {
            return false;
        }

        for (var version = after + 1; version <= upTo; version++)
        {
            var change = Volatile.Read(ref _ring[version % _ring.Length]);
            if (change is null || change.Version != version)
            {
                return false;
            }

            into.Add(change);
        }

        return true;
    }

    /// <summary>True when the changes after <paramref name="version"/> of the current term are all still kept.</summary>
    public bool Retains(long version)
    {
        var current = Current.Version;
        return version >= 0 && version <= current && current - version <= _ring.Length;
    }

    /// <summary>One numbered change: the job as it became.</summary>
    public sealed record Change(long Version, JobRecord Job);
}
