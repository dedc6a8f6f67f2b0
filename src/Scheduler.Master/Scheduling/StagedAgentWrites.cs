using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Changes agents reported (started, exited) within one inbox batch, decided but not yet stored: the
/// loop writes them with the batch's submits in one store write, and only once it is durable sends
/// what follows from them (an exit's acknowledgement, a stop). Users' cancels join them the same way.
/// A job appears here at most once: a
/// second report about it waits until the first is stored, so each is decided on current state.
/// </summary>
internal sealed class StagedAgentWrites
{
    private readonly List<JobRecord> _records = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly List<Action> _onStored = [];
    private readonly List<Action<Grpc.Core.RpcException>> _onFailed = [];

    public int Count => _records.Count;

    /// <summary>The changed jobs, in the order they were reported.</summary>
    public IReadOnlyList<JobRecord> Records => _records;

    /// <summary>Whether a change of <paramref name="jobId"/> waits here.</summary>
    public bool Holds(string jobId) => _ids.Contains(jobId);

    /// <summary>
    /// Stages <paramref name="record"/>; <paramref name="onStored"/> runs once it is durable, never if its
    /// write fails; <paramref name="onFailed"/> (a caller waiting for an answer) runs if it fails.
    /// </summary>
    public void Add(JobRecord record, Action? onStored, Action<Grpc.Core.RpcException>? onFailed = null)
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

        if (onFailed is not null)
        {
            _onFailed.Add(onFailed);
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

    /// <summary>
    /// Forgets the group without acting on it (its write failed: the workers report again) and answers
    /// the callers waiting on it with <paramref name="error"/>.
    /// </summary>
    public void Fail(Grpc.Core.RpcException error)
    {
        var callers = _onFailed.ToArray();
        Clear();
        foreach (var fail in callers)
        {
            fail(error);
        }
    }

    private void Clear()
    {
        _records.Clear();
        _ids.Clear();
        _onStored.Clear();
        _onFailed.Clear();
    }
}
