namespace Scheduler.Worker.Link;

/// <summary>Send times of one stream's heartbeats not yet acknowledged.</summary>
internal sealed class SentHeartbeats
{
    private const int MaxUnacknowledged = 1024;
    private readonly Lock _lock = new();
    private readonly Queue<(ulong Sequence, long SentAt)> _sent = new();

    public void Add(ulong sequence, long sentAt)
    {
        lock (_lock)
        {
            _sent.Enqueue((sequence, sentAt));

            // A master that never acknowledges must not make this grow without bound.
            while (_sent.Count > MaxUnacknowledged)
            {
                _sent.Dequeue();
            }
        }
    }

    /// <summary>The send time of <paramref name="sequence"/>; older entries go (acks come in order).</summary>
    public long? TakeSentAt(ulong sequence)
    {
        lock (_lock)
        {
            long? found = null;
            while (_sent.TryPeek(out var head) && head.Sequence <= sequence)
            {
                _sent.Dequeue();
                if (head.Sequence == sequence)
                {
                    found = head.SentAt;
                }
            }

            return found;
        }
    }
}
