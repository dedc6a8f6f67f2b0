namespace Scheduler.Core.Placement;

/// <summary>
/// The checks a node must pass before it is scored, by the names `jobs why` groups failures under.
/// <see cref="PlacementEngine.Filter"/> answers in words; <see cref="Of"/> says which check those words belong to.
/// </summary>
public static class PlacementChecks
{
    /// <summary>The node is not ready (suspect, dead or leaving).</summary>
    public const string Health = "health";

    /// <summary>The node is cordoned or draining.</summary>
    public const string Cordon = "cordon";

    /// <summary>The job's node selector does not match the node's labels.</summary>
    public const string Labels = "labels";

    /// <summary>The node has no GPU of a model the job accepts.</summary>
    public const string Model = "model";

    /// <summary>Too little CPU, memory or GPU, free or in total.</summary>
    public const string Capacity = "capacity";

    /// <summary>No group of the node's GPUs (NVLink island, PCIe switch, NUMA node) meets the job's required topology.</summary>
    public const string Topology = "topology";

    /// <summary>Every check passed but the placement policy scored no choice on the node.</summary>
    public const string Policy = "policy";

    /// <summary>The words the policy check fails with.</summary>
    public const string PolicyRefuses = "no GPU choice the policy accepts";

    /// <summary>The check a reason from <see cref="PlacementEngine.Filter"/> belongs to.</summary>
    public static string Of(string reason) => reason switch
    {
        PlacementEngine.NotReady => Health,
        PlacementEngine.CordonedReason => Cordon,
        PlacementEngine.LabelsDoNotMatch => Labels,
        PlacementEngine.NoGpus or PlacementEngine.NoAllowedGpuModel => Model,
        PolicyRefuses => Policy,
        _ when reason.StartsWith(PlacementEngine.TopologyPrefix, StringComparison.Ordinal) => Topology,
        _ => Capacity,
    };
}
