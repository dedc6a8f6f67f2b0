namespace Scheduler.Master.Leadership;

/// <summary>
/// The one failover budget, checked at start-up. A worker that hears from no leader kills its agents
/// after <c>dead-after − heartbeat</c> (it must: the master may requeue them after dead-after). A
/// routine failover must therefore end well inside that, or every agent in the cluster dies with
/// the old leader:
/// <code>
///   lease TTL (rounded up to whole seconds, as etcd does)
/// + etcd's expiry sweep (500 ms) + the standbys' poll of the leader key
/// + taking over (begin the term, load the state: allowance 500 ms)
/// + the worker's reconnect back-off cap (dead-after / 4, at least 200 ms) + one heartbeat
/// </code>
/// with a quarter of that (at least 500 ms) to spare.
/// </summary>
internal static class FailoverBudget
{
    private static readonly TimeSpan EtcdExpirySweep = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan TakeoverAllowance = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the failover may take at worst under these settings.</summary>
    public static TimeSpan Needed(TimeSpan leaseTtl, TimeSpan poll, TimeSpan heartbeat, TimeSpan deadAfter)
    {
        var ttl = TimeSpan.FromSeconds(Math.Ceiling(leaseTtl.TotalSeconds));
        var reconnectCap = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(200).Ticks, deadAfter.Ticks / 4));
        return ttl + EtcdExpirySweep + poll + TakeoverAllowance + reconnectCap + heartbeat;
    }

    /// <summary>Null when the budget holds; otherwise the one-line reason, naming the settings to change.</summary>
    public static string? Check(TimeSpan leaseTtl, TimeSpan poll, TimeSpan heartbeat, TimeSpan deadAfter)
    {
        if (Holds(leaseTtl, poll, heartbeat, deadAfter))
        {
            return null;
        }

        var needed = Needed(leaseTtl, poll, heartbeat, deadAfter);
        var margin = Margin(needed);
        var available = deadAfter - heartbeat;
        return $"failover budget too small: workers kill their agents {available.TotalMilliseconds:0} ms (dead-after − heartbeat) after losing the leader, " +
              $"but a failover may take {needed.TotalMilliseconds:0} ms (lease TTL {Math.Ceiling(leaseTtl.TotalSeconds):0} s + etcd expiry sweep + leader poll + takeover + worker reconnect cap + heartbeat) " +
              $"and needs {margin.TotalMilliseconds:0} ms to spare: raise --dead-after-ms to at least {MinimumDeadAfter(leaseTtl, poll, heartbeat).TotalMilliseconds:0}, or lower --lease-ttl-ms";
    }

    public static bool Holds(TimeSpan leaseTtl, TimeSpan poll, TimeSpan heartbeat, TimeSpan deadAfter)
    {
        var needed = Needed(leaseTtl, poll, heartbeat, deadAfter);
        return deadAfter - heartbeat >= needed + Margin(needed);
    }

    private static TimeSpan Margin(TimeSpan needed) => TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(500).Ticks, needed.Ticks / 4));

    /// <summary>The smallest dead-after (in 100 ms steps) for which the budget holds.</summary>
    public static TimeSpan MinimumDeadAfter(TimeSpan leaseTtl, TimeSpan poll, TimeSpan heartbeat)
    {
        var deadAfter = heartbeat;
        while (!Holds(leaseTtl, poll, heartbeat, deadAfter) && deadAfter < TimeSpan.FromHours(1))
        {
            deadAfter += TimeSpan.FromMilliseconds(100);
        }

        return deadAfter;
    }
}
