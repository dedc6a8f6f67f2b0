namespace Scheduler.Core.Placement;

/// <summary>
/// A policy whose equal scores are broken at random, as kube-scheduler does (uniformly over
/// distinct node states here, since identical nodes are scored once): coarse integer scores (the published FGD plugin) tie often, and always
/// taking the first node would pile work onto the start of the node list.
/// </summary>
internal interface IRandomTieBreak
{
    /// <summary>The seeded source the engine draws from; null when this instance wants the first node on ties.</summary>
    Random? TieBreak { get; }
}
