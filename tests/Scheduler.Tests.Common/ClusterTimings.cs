namespace Scheduler.Tests.Common;

/// <summary>Heartbeat and failure-detection settings for a test cluster.</summary>
public sealed record ClusterTimings(int HeartbeatIntervalMs, int DeadAfterMs)
{
    /// <summary>
    /// Short enough that fault tests finish in seconds, long enough not to flap on a loaded 2-core machine.
    /// A worker fences itself (and refuses starts as possibly stale) after dead-after minus one heartbeat
    /// without contact: at 3 s, a machine under several parallel builds went past it now and then, and a
    /// job then ran one attempt more than a test expected.
    /// </summary>
    public static ClusterTimings Fast { get; } = new(200, 5000);

    /// <summary>
    /// For tests that restart the master and rely on workers keeping their agents through it: a worker
    /// fences after dead-after minus one heartbeat without contact, and a master process started on a
    /// machine under heavy load took longer than 5 s to serve again.
    /// </summary>
    public static ClusterTimings MasterRestart { get; } = new(250, 20_000);
}
