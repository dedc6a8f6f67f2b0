using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Scores one feasible way of placing a job: a node and the GPU slices it would take there.
/// The engine has already filtered out everything that does not fit; the highest score wins,
/// ties going to the earlier node.
/// </summary>
public interface IPlacementPolicy
{
    /// <summary>Name used in configuration (see <see cref="PlacementPolicyNames"/>).</summary>
    string Name { get; }

    /// <summary>Higher is better. Must not modify <paramref name="node"/>.</summary>
    double Score(NodeState node, JobDemand demand, IReadOnlyList<GpuShare> gpus);

    /// <summary>
    /// True when the score depends only on the node's state (see <see cref="NodeState.EquivalenceKey"/>),
    /// never on its name or on chance: the engine may then score one node per equivalence class.
    /// </summary>
    bool ScoresNodeStateOnly => false;
}
