namespace Scheduler.Core.Placement;

/// <summary>
/// What placement makes of one node for one job: the reason it cannot take the job, or the best
/// score the policy gives it (<see cref="Rejection"/> null).
/// </summary>
public sealed record PlacementVerdict(string NodeId, string? Rejection, double Score)
{
    /// <summary>True when the node could take the job now.</summary>
    public bool Fits => Rejection is null;
}
