using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Changes agents reported (started, exited) within one inbox batch, decided but not yet stored: the
/// loop writes them with the batch's submits in one store write, and only once it is durable sends
/// what follows from them (an exit's acknowledgement, a stop). A job appears here at most once: a
/// second report about it waits until the first is stored, so each is decided on current state.
/// </summary>
internal sealed class StagedAgentWrites
{
    private readonly List<JobRecord> _records = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly List<Action> _onStored = [];

    public int Count => _records.Count;

    /// <summary>The changed jobs, in the order they were reported.</summary>
    public IReadOnlyList<JobRecord> Records => _records;

    /// <summary>Whether a change of <paramref name="jobId"/> waits here.</summary>
    public bool Holds(string jobId) => _ids.Contains(jobId);

    /// <summary>Stages <paramref name="record"/>; <paramref name="onStored"/> runs once it is durable, never if its write fails.</summary>
    public void Add(JobRecord record, Action? onStored)
    {
        if (!_ids.Add(record.Id))
        {
            throw new InvalidOperationException($"job {record.Id} already has a change waiting to be stored");
        }

        _records.Add(record);
        if (onStored is not null)
        {
            _onStored.Add(onStored);
        }
    }

    /// <summary>The write is durable: runs what waited for it, in order, and forgets the group.</summary>
    public void Stored()
    {
        var actions = _onStored.ToArray();
        Clear();
        foreach (var action in actions)
        {
            action();
        }
    }

    /// <summary>Forgets the group without acting on it (its write failed: the workers report again).</summary>
    public void Clear()
    {
        _records.Clear();
        _ids.Clear();
        _onStored.Clear();
    }
}
