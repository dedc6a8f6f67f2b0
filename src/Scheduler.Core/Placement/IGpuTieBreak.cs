using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// A policy whose node score is coarse (an integer, as kube-scheduler plugins return) but which
/// still prefers one GPU choice over another within a node: among the choices on one node that
/// score alike, the engine keeps the one with the highest <see cref="GpuTieBreak"/>. It never
/// decides between nodes.
/// </summary>
internal interface IGpuTieBreak
{
    /// <summary>Higher is preferred; compares GPU choices on <paramref name="node"/> only.</summary>
    double GpuTieBreak(NodeState node, IReadOnlyList<GpuShare> gpus);
}
