namespace Scheduler.Worker.Link;

/// <summary>
/// One timer that ticks every fencing watchdog of this process. A host of 10,000 simulated nodes
/// had a 100 ms timer per link, 100,000 wake-ups a second that kept the thread pool spinning;
/// one loop walking the watchdogs does the same checks at a fraction of the cost.
/// </summary>
internal sealed class FencingTicker : IAsyncDisposable
{
    internal static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<FencingWatchdog> _watchdogs = [];
    private readonly CancellationTokenSource _stopping = new();
    private Task? _run;

    public FencingTicker(TimeProvider time) => _time = time;

    /// <summary>Ticks <paramref name="watchdog"/> from now on (the timer starts with the first).</summary>
    public void Add(FencingWatchdog watchdog)
    {
        lock (_lock)
        {
            _watchdogs.Add(watchdog);
            _run ??= RunAsync(_stopping.Token);
        }
    }

    public void Remove(FencingWatchdog watchdog)
    {
        lock (_lock)
        {
            _watchdogs.Remove(watchdog);
        }
    }

    /// <summary>Ticks every watchdog once (what the timer does each period).</summary>
    internal void TickAll()
    {
        FencingWatchdog[] watchdogs;
        lock (_lock)
        {
            watchdogs = [.. _watchdogs];
        }

        foreach (var watchdog in watchdogs)
        {
            watchdog.Tick();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Task? run;
        lock (_lock)
        {
            run = _run;
        }

        if (run is not null)
        {
            await run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                TickAll();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
