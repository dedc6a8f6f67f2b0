namespace Scheduler.Worker.Link;

/// <summary>
/// Rate limit for the warnings of failing streams: at most a burst per window, the rest counted
/// and reported with the next one let through. Shared by every link of a process, since one host
/// of 10,000 simulated nodes whose master goes away would otherwise log a warning per stream per
/// retry (1.4 million lines were measured at 5,000 nodes, which itself slowed the host down).
/// </summary>
internal sealed class RepeatedWarnings
{
    internal const int DefaultBurst = 20;
    internal static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly int _burst;
    private readonly TimeSpan _window;
    private readonly Lock _lock = new();
    private long _windowStart;
    private int _inWindow;
    private long _suppressed;

    public RepeatedWarnings(TimeProvider time, int burst = DefaultBurst, TimeSpan? window = null)
    {
        _time = time;
        _burst = burst;
        _window = window ?? DefaultWindow;
        _windowStart = time.GetTimestamp();
    }

    /// <summary>
    /// True when this warning may be logged; <paramref name="suppressed"/> then says how many were
    /// held back since the last one logged (to be reported with it). False: counted, not logged.
    /// </summary>
    public bool TryLog(out long suppressed)
    {
        lock (_lock)
        {
            if (_time.GetElapsedTime(_windowStart) >= _window)
            {
                _windowStart = _time.GetTimestamp();
                _inWindow = 0;
            }

            if (++_inWindow > _burst)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
