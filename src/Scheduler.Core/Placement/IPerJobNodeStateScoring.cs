namespace Scheduler.Core.Placement;

/// <summary>
/// A policy whose scores depend on node state alone for some jobs only (see
/// <see cref="IPlacementPolicy.ScoresNodeStateOnly"/>): the engine asks per job whether it may score
/// one node per equivalence class.
/// </summary>
internal interface IPerJobNodeStateScoring
{
    /// <summary>True when, for <paramref name="demand"/>, identical node states score alike.</summary>
    bool ScoresNodeStateOnlyFor(JobDemand demand);
}
