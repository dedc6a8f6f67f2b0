namespace Scheduler.Worker.Link;

/// <summary>
/// HTTP/2 keepalive of the stream to the master, scaled to the master's dead-after. The master
/// acknowledges every heartbeat, so on a healthy stream frames arrive each interval and a ping is
/// only sent once the master has gone quiet for the delay. A sixth of dead-after to start probing
/// and a sixth to answer finds a frozen master within a third of dead-after (a standby taking over
/// waits dead-after for known nodes, and the worker must reach it first), which at the 10 s default
/// is 1.7 s + 1.7 s; a fixed 1 s ping with a 1 s timeout probed all the time and cut thousands of
/// streams of a master that was merely slow for a second (reconnect storms at 5,000 simulated nodes).
/// </summary>
internal static class LinkKeepAlive
{
    internal static readonly TimeSpan Floor = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan DelayCeiling = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan TimeoutCeiling = TimeSpan.FromSeconds(20);

    /// <summary>Before the master's timings are known (its default dead-after is 10 s).</summary>
    internal static readonly TimeSpan UnknownDeadAfter = TimeSpan.FromSeconds(10);

    /// <summary>Ping delay (quiet time before a ping) and timeout (for its answer) for a master that declares nodes dead after <paramref name="deadAfter"/>.</summary>
    public static (TimeSpan Delay, TimeSpan Timeout) For(TimeSpan? deadAfter)
    {
        var sixth = (deadAfter ?? UnknownDeadAfter) / 6;
        return (Clamp(sixth, DelayCeiling), Clamp(sixth, TimeoutCeiling));
    }

    /// <summary>
    /// For a connection shared by the simulated nodes of one process (<see cref="MasterConnections"/>):
    /// the same probing delay, but half of dead-after for the answer, so a frozen master is still
    /// found within two thirds of dead-after, before the nodes fence (one heartbeat before it). One
    /// late answer to a ping cuts up to 90 streams at once there, and a host of 10,000 nodes on two
    /// busy cores misses 1.7 s: at load 44-80 such connections failed together every minute or two
    /// (thousands of streams at once, 22,688 in five minutes), and the nodes' registrations again
    /// were the storm that kept 10,000 from ever being ready together. The master declares a node
    /// dead only after dead-after; the connection need not give up sooner than it must.
    /// </summary>
    public static (TimeSpan Delay, TimeSpan Timeout) ForShared(TimeSpan? deadAfter)
    {
        var known = deadAfter ?? UnknownDeadAfter;
        return (Clamp(known / 6, DelayCeiling), Clamp(known / 2, TimeoutCeiling));
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan ceiling) =>
        value < Floor ? Floor : value > ceiling ? ceiling : value;
}
