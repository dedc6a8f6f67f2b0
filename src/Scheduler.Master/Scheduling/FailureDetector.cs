using Scheduler.Core.Cluster;

namespace Scheduler.Master.Scheduling;

/// <summary>What the failure detector concludes about one node on a tick.</summary>
internal enum NodeVerdict
{
    Unchanged,
    Suspect,
    Dead,
}

/// <summary>
/// Judges a node by how long it has been silent: suspect (no new work) after a few missed
/// heartbeats, dead (its jobs requeued) after dead-after. Pure, so the thresholds are tested
/// without a loop; the broken stream, noticed at once, is the first signal and is handled apart.
/// </summary>
internal sealed record FailureDetector(TimeSpan SuspectAfter, TimeSpan DeadAfter)
{
    public static FailureDetector From(MasterOptions options) => new(
        TimeSpan.FromMilliseconds((long)options.HeartbeatIntervalMs * options.SuspectAfterMissed),
        TimeSpan.FromMilliseconds(options.DeadAfterMs));

    public NodeVerdict Judge(NodeHealth health, TimeSpan silent) =>
        health != NodeHealth.Dead && silent > DeadAfter ? NodeVerdict.Dead
        : health == NodeHealth.Ready && silent > SuspectAfter ? NodeVerdict.Suspect
        : NodeVerdict.Unchanged;
}
