namespace Scheduler.Core.Cluster;

/// <summary>How the master currently judges a node.</summary>
public enum NodeHealth
{
    /// <summary>Connected and heartbeating.</summary>
    Ready,

    /// <summary>Stream broken or heartbeats late: no new work, current work still counted.</summary>
    Suspect,

    /// <summary>Silent past the grace period: its jobs have been requeued.</summary>
    Dead,

    /// <summary>The worker is shutting down gracefully: no new work; its agents are being stopped and handed back.</summary>
    Leaving,
}
