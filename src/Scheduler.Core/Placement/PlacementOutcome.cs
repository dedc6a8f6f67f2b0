using Scheduler.Core.Cluster;

namespace Scheduler.Core.Placement;

/// <summary>The engine's answer for one job: an allocation, or why there is none.</summary>
public sealed record PlacementOutcome(Allocation? Allocation, string? Reason)
{
    /// <summary>True when the job was placed.</summary>
    public bool Placed => Allocation is not null;
}
