using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>An in-memory store whose writes can be made to fail, as a full disk or a lost leadership would.</summary>
internal sealed class MemoryStore : IStateStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JobRecord> _jobs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeRecord> _nodes = new(StringComparer.Ordinal);
    private readonly List<IReadOnlyList<JobRecord>> _writes = [];
    private readonly List<IReadOnlyList<NodeRecord>> _nodeWrites = [];
    private long _epoch;

    public string Kind => "memory";

    /// <summary>A write of jobs for which this returns true fails, storing none of them.</summary>
    public Func<IReadOnlyCollection<JobRecord>, bool> FailJobWrites { get; set; } = _ => false;

    /// <summary>What a refused write throws.</summary>
    public Func<Exception> Failure { get; set; } = () => new StoreUnavailableException("the test store refuses this write");

    public int FailedWrites { get; private set; }

    /// <summary>While set, every write that carries a node record fails, storing nothing.</summary>
    public bool FailNodeWrites { get; set; }

    /// <summary>Every write of node records that succeeded, in order: the records each one stored together.</summary>
    public IReadOnlyList<IReadOnlyList<NodeRecord>> NodeWrites
    {
        get
        {
            lock (_lock)
            {
                return [.. _nodeWrites];
            }
        }
    }

    /// <summary>The node records stored now.</summary>
    public IReadOnlyDictionary<string, NodeRecord> Nodes
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, NodeRecord>(_nodes);
            }
        }
    }

    /// <summary>A failing job write is applied before it fails: a store that committed but did not answer.</summary>
    public bool ApplyBeforeFailing { get; set; }

    /// <summary>While set, a job write waits for it to complete (a slow disk holding the loop); <see cref="Holding"/> says one waits.</summary>
    public Task? Hold { get; set; }

    /// <summary>Completes once a job write waits on <see cref="Hold"/>; replaced with a fresh one by setting <see cref="Hold"/> again.</summary>
    public TaskCompletionSource Holding { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Which job writes <see cref="Hold"/> holds (all by default).</summary>
    public Func<IReadOnlyCollection<JobRecord>, bool> HoldWhen { get; set; } = _ => true;

    /// <summary>Holds the next job writes (those <paramref name="when"/> picks) until <paramref name="release"/> completes.</summary>
    public void HoldWrites(Task release, Func<IReadOnlyCollection<JobRecord>, bool>? when = null)
    {
        Holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        HoldWhen = when ?? (_ => true);
        Hold = release;
    }

    /// <summary>Every job write that succeeded, in order: the records each one stored together.</summary>
    public IReadOnlyList<IReadOnlyList<JobRecord>> Writes
    {
        get
        {
            lock (_lock)
            {
                return [.. _writes];
            }
        }
    }

    public IReadOnlyDictionary<string, JobRecord> Jobs
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, JobRecord>(_jobs);
            }
        }
    }

    public Task<long> BeginTermAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(++_epoch);
        }
    }

    public Task<long> RaiseEpochAsync(long atLeast, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _epoch = Math.Max(_epoch, atLeast);
            return Task.FromResult(_epoch);
        }
    }

    public Task<StoredState> LoadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(new StoredState(_jobs.Values.OrderBy(j => j.Sequence).ToList(), _nodes.Values.ToList()));
        }
    }

    public Task SaveJobsAsync(IReadOnlyCollection<JobRecord> jobs, CancellationToken cancellationToken) =>
        SaveAsync(jobs, [], cancellationToken);

    public async Task SaveAsync(IReadOnlyCollection<JobRecord> jobs, IReadOnlyCollection<NodeRecord> nodes, CancellationToken cancellationToken)
    {
        if (Hold is { } hold && (jobs.Count > 0 || nodes.Count == 0) && HoldWhen(jobs))
        {
            Holding.TrySetResult();
            await hold.WaitAsync(cancellationToken);
        }

        lock (_lock)
        {
            var fail = (jobs.Count > 0 && FailJobWrites(jobs)) || (nodes.Count > 0 && FailNodeWrites);
            if (fail && !ApplyBeforeFailing)
            {
                FailedWrites++;
                throw Failure();
            }

            foreach (var job in jobs)
            {
                _jobs[job.Id] = job;
            }

            foreach (var node in nodes)
            {
                _nodes[node.Id] = node;
            }

            if (jobs.Count > 0 || nodes.Count == 0)
            {
                _writes.Add([.. jobs]);
            }

            if (nodes.Count > 0)
            {
                _nodeWrites.Add([.. nodes]);
            }
            if (fail)
            {
                FailedWrites++;
                throw Failure();
            }
        }
    }

    public Task DeleteJobsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            foreach (var id in ids)
            {
                _jobs.Remove(id);
            }
        }

        return Task.CompletedTask;
    }

    public Task SaveNodeAsync(NodeRecord node, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (FailNodeWrites)
            {
                FailedWrites++;
                throw Failure();
            }

            _nodes[node.Id] = node;
            _nodeWrites.Add([node]);
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
