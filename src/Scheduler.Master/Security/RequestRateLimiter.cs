using System.Collections.Concurrent;

namespace Scheduler.Master.Security;

/// <summary>
/// A token bucket per caller: <see cref="SecurityOptions.RateLimitBurst"/> requests at once, refilled
/// at <see cref="SecurityOptions.RateLimitPerSecond"/>. A refusal says when the next request would
/// pass, which the interceptor hands to the client as its retry hint.
/// </summary>
internal sealed class RequestRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly double _perSecond;
    private readonly double _burst;

    public RequestRateLimiter(double perSecond, int burst, TimeProvider time)
    {
        _perSecond = perSecond;
        _burst = burst;
        _time = time;
    }

    /// <summary>Takes one request from <paramref name="caller"/>'s bucket; the wait until one is available when it is empty.</summary>
    public TimeSpan? TryAcquire(string caller)
    {
        if (_perSecond <= 0)
        {
            return null;
        }

        var now = _time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(caller, _ => new Bucket(_burst, now));
        lock (bucket)
        {
            var elapsed = _time.GetElapsedTime(bucket.Stamp, now).TotalSeconds;
            bucket.Tokens = Math.Min(_burst, bucket.Tokens + (elapsed * _perSecond));
            bucket.Stamp = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                return null;
            }

            return TimeSpan.FromSeconds((1 - bucket.Tokens) / _perSecond);
        }
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens { get; set; } = tokens;

        public long Stamp { get; set; } = stamp;
    }
}
