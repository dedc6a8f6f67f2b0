namespace Scheduler.Worker.Gpu;

/// <summary>
/// Reads the host's GPU topology through NVML once, at start: PCI addresses, every pair's common ancestor
/// (nvmlDeviceGetTopologyCommonAncestor) and every active NVLink's far end (nvmlDeviceGetNvLinkState,
/// nvmlDeviceGetNvLinkRemotePciInfo_v2). Any of these may be missing from an old driver or unsupported by a
/// GPU: what cannot be read is reported as unknown (and said in <see cref="Result.Note"/>), never fatal,
/// since a GPU host without topology still runs every job that does not require one.
/// </summary>
internal static class NvmlTopology
{
    public sealed record Result(GpuPlacementInfo[] Gpus, string Note);

    public static Result Read(IReadOnlyList<nint> handles)
    {
        var notes = new List<string>();
        var addresses = ReadAddresses(handles, notes);
        var ancestors = ReadAncestors(handles, notes);
        var links = addresses.Any(a => a is null) ? [] : ReadLinks(handles, notes);
        if (addresses.Any(a => a is null))
        {
            notes.Add("NVLink peers unknown: a GPU's PCI address could not be read");
        }

        var gpus = TopologyGroups.Build(handles.Count, (i, j) => ancestors[i, j], addresses, links);
        return new Result(gpus, string.Join("; ", notes));
    }

    private static PciAddress?[] ReadAddresses(IReadOnlyList<nint> handles, List<string> notes)
    {
        var addresses = new PciAddress?[handles.Count];
        try
        {
            for (var i = 0; i < handles.Count; i++)
            {
                if (NvmlNative.DeviceGetPciInfo(handles[i], out var pci) == NvmlNative.Success)
                {
                    addresses[i] = new PciAddress(pci.Domain, pci.Bus, pci.Device);
                }
            }
        }
        catch (EntryPointNotFoundException)
        {
            notes.Add("NVML lacks nvmlDeviceGetPciInfo_v3");
        }

        return addresses;
    }

    private static int?[,] ReadAncestors(IReadOnlyList<nint> handles, List<string> notes)
    {
        var levels = new int?[handles.Count, handles.Count];
        try
        {
            for (var i = 0; i < handles.Count; i++)
            {
                for (var j = i + 1; j < handles.Count; j++)
                {
                    if (NvmlNative.DeviceGetTopologyCommonAncestor(handles[i], handles[j], out var level) == NvmlNative.Success)
                    {
                        levels[i, j] = levels[j, i] = level;
                    }
                }
            }
        }
        catch (EntryPointNotFoundException)
        {
            notes.Add("NVML lacks nvmlDeviceGetTopologyCommonAncestor: PCIe switch and NUMA groups unknown");
        }

        return levels;
    }

    private static List<(int Gpu, PciAddress Remote)> ReadLinks(IReadOnlyList<nint> handles, List<string> notes)
    {
        var links = new List<(int, PciAddress)>();
        try
        {
            for (var i = 0; i < handles.Count; i++)
            {
                for (var link = 0u; link < NvmlNative.NvLinkMaxLinks; link++)
                {
                    // NOT_SUPPORTED (no NVLink on this GPU) or INVALID_ARGUMENT (no such link): nothing to follow.
                    if (NvmlNative.DeviceGetNvLinkState(handles[i], link, out var active) != NvmlNative.Success
                        || active != NvmlNative.FeatureEnabled
                        || NvmlNative.DeviceGetNvLinkRemotePciInfo(handles[i], link, out var remote) != NvmlNative.Success)
                    {
                        continue;
                    }

                    links.Add((i, new PciAddress(remote.Domain, remote.Bus, remote.Device)));
                }
            }
        }
        catch (EntryPointNotFoundException ex)
        {
            notes.Add($"NVML lacks an NVLink query ({ex.Message}): NVLink islands unknown");
            links.Clear();
        }

        return links;
    }
}
