using Scheduler.Worker.Agents;
using Scheduler.Worker.Keeper;

namespace Scheduler.Worker.Link;

/// <summary>
/// The fencing clock: runs from the last moment the master is known to have heard from this
/// worker. Every tick it fences this node's agents once the master may have declared the node dead,
/// and renews the keeper's lease up to that same moment, so a frozen worker's agents die on time too.
/// Inactive until the master's timings are known (<see cref="FenceAfter"/>).
/// </summary>
internal sealed class FencingWatchdog : IAsyncDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private readonly string _nodeId;
    private readonly AgentSupervisor _agents;
    private readonly AgentKeeper? _keeper;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private long _contact;
    private TimeSpan? _fenceAfter;
    private Task? _run;
    private FencingTicker? _ticker;
    private long _leased = long.MinValue;

    public FencingWatchdog(string nodeId, AgentSupervisor agents, AgentKeeper? keeper, TimeProvider time)
    {
        _nodeId = nodeId;
        _agents = agents;
        _keeper = keeper;
        _time = time;
        _contact = time.GetTimestamp();
    }

    /// <summary>How long after the last contact the agents are fenced; null until the master's timings are known.</summary>
    public TimeSpan? FenceAfter
    {
        get
        {
            lock (_lock)
            {
                return _fenceAfter;
            }
        }

        set
        {
            lock (_lock)
            {
                _fenceAfter = value;
            }
        }
    }

    /// <summary>Starts ticking: on <paramref name="ticker"/>, shared with the other nodes of this process, or on a timer of its own.</summary>
    public void Start(FencingTicker? ticker = null)
    {
        if (ticker is null)
        {
            _run ??= RunAsync(_stopping.Token);
        }
        else if (_ticker is null)
        {
            _ticker = ticker;
            ticker.Add(this);
        }
    }

    public async Task StopAsync(CancellationToken ct)
    {
        _ticker?.Remove(this);
        await _stopping.CancelAsync();
        if (_run is { } run)
        {
            await run.WaitAsync(ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    /// <summary>The master heard from us no earlier than <paramref name="sentAt"/>: the fencing clock restarts there.</summary>
    public void MarkContact(long sentAt)
    {
        lock (_lock)
        {
            _contact = Math.Max(_contact, sentAt);
        }
    }

    /// <summary>No master can be declaring this node dead now (none is running): the clock holds still.</summary>
    public void HoldStill()
    {
        lock (_lock)
        {
            _contact = Math.Max(_contact, _time.GetTimestamp());
        }
    }

    /// <summary>How long past its fencing deadline this worker is, from the last contact; null while within it.</summary>
    public TimeSpan? SilentFor()
    {
        lock (_lock)
        {
            if (_fenceAfter is not { } limit)
            {
                return null;
            }

            var silent = _time.GetElapsedTime(_contact);
            return silent > limit ? silent : null;
        }
    }

    /// <summary>Tells the keeper the fencing deadline from the latest contact, at once.</summary>
    public void RenewKeeperLease()
    {
        if (Deadline() is { } deadline)
        {
            _keeper?.Lease(_nodeId, deadline);
        }
    }

    private long? Deadline()
    {
        lock (_lock)
        {
            return _fenceAfter is { } limit ? _contact + (long)(limit.TotalSeconds * _time.TimestampFrequency) : null;
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Period, _time);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Tick();
        }
    }

    /// <summary>One check: renews the keeper's lease to the deadline and fences the agents once it has passed.</summary>
    internal void Tick()
    {
        long contact;
        long deadline;
        lock (_lock)
        {
            if (_fenceAfter is not { } limit)
            {
                return;
            }

            contact = _contact;
            deadline = contact + (long)(limit.TotalSeconds * _time.TimestampFrequency);
        }

        // Only a moved deadline is news to the keeper (it is told again all it knows if it restarts):
        // at 10,000 nodes a line per node per tick was 100,000 lines a second to one keeper.
        if (deadline != Interlocked.Exchange(ref _leased, deadline))
        {
            _keeper?.Lease(_nodeId, deadline);
        }

        if (_time.GetTimestamp() > deadline && _agents.LiveCount > 0)
        {
            var silent = _time.GetElapsedTime(contact);
            _agents.Fence($"no contact with the master for {silent.TotalSeconds:F1}s; it will have requeued this node's jobs");
        }
    }
}
