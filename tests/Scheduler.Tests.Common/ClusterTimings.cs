namespace Scheduler.Tests.Common;

/// <summary>Heartbeat and failure-detection settings for a test cluster.</summary>
public sealed record ClusterTimings(int HeartbeatIntervalMs, int DeadAfterMs)
{
    /// <summary>Short enough that fault tests finish in seconds, long enough not to flap on a loaded 2-core machine.</summary>
    public static ClusterTimings Fast { get; } = new(200, 3000);
}
