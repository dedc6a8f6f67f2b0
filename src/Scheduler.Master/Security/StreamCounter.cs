using System.Collections.Concurrent;

namespace Scheduler.Master.Security;

/// <summary>Open streams per caller, capped, so one token cannot hold the master's memory with watches.</summary>
internal sealed class StreamCounter
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);
    private readonly int _max;

    public StreamCounter(int max) => _max = max;

    /// <summary>Counts one more stream for <paramref name="caller"/>; false (nothing counted) at the cap.</summary>
    public bool TryOpen(string caller)
    {
        while (true)
        {
            var current = _open.GetOrAdd(caller, 0);
            if (current >= _max)
            {
                return false;
            }

            if (_open.TryUpdate(caller, current + 1, current))
            {
                return true;
            }
        }
    }

    public void Close(string caller) => _open.AddOrUpdate(caller, 0, (_, n) => Math.Max(0, n - 1));

    public int OpenFor(string caller) => _open.TryGetValue(caller, out var n) ? n : 0;
}
