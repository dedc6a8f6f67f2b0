namespace Scheduler.Core.Placement;

/// <summary>
/// A policy whose equal scores are broken at random, as stock kube-scheduler does: over an index,
/// uniformly over nodes (a class of identical nodes weighs as many nodes as it holds); over a plain
/// node list, uniformly over distinct node states. No built-in policy asks for it any more: the FGD
/// paper's simulator gives ties to the first node of a fixed (seeded) order, which packs better
/// (see <see cref="FgdPolicy"/>); wrappers such as the affinity policy pass an inner policy's on.
/// </summary>
internal interface IRandomTieBreak
{
    /// <summary>The seeded source the engine draws from; null when this instance wants the first node on ties.</summary>
    Random? TieBreak { get; }
}
