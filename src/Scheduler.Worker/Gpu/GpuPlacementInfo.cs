using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Gpu;

/// <summary>
/// One GPU's place in the host's topology as the worker reports it (GpuInfo fields 30-33): group ids local
/// to the host, 0 for none or unknown, and the indices of the GPUs it has an NVLink to.
/// </summary>
internal sealed record GpuPlacementInfo(int NvLinkIsland, int PcieSwitch, int NumaNode, IReadOnlyList<int> NvLinkPeers)
{
    public static GpuPlacementInfo Unknown { get; } = new(0, 0, 0, []);

    public void ApplyTo(GpuInfo info)
    {
        info.NvlinkIsland = NvLinkIsland;
        info.PcieSwitch = PcieSwitch;
        info.NumaNode = NumaNode;
        info.NvlinkPeers.Clear();
        info.NvlinkPeers.Add(NvLinkPeers);
    }
}
