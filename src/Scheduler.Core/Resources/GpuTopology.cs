namespace Scheduler.Core.Resources;

/// <summary>
/// Where one GPU sits on its node, as group ids local to the node: GPUs with the same non-zero id share
/// that connection; 0 means none or unknown. <see cref="NvLinkPeers"/> is a bit mask of the GPU indices
/// it has an NVLink to, kept for display (placement reads the groups).
/// </summary>
public readonly record struct GpuTopology(int NvLinkIsland, int PcieSwitch, int NumaNode, ulong NvLinkPeers = 0)
{
    /// <summary>True when the worker reported any group for this GPU.</summary>
    public bool HasAny() => NvLinkIsland != 0 || PcieSwitch != 0 || NumaNode != 0;

    /// <summary>The group id at <paramref name="level"/> (0 for <see cref="TopologyLevel.System"/>).</summary>
    public int GroupAt(TopologyLevel level) => level switch
    {
        TopologyLevel.NvLink => NvLinkIsland,
        TopologyLevel.PcieSwitch => PcieSwitch,
        TopologyLevel.Numa => NumaNode,
        _ => 0,
    };
}
