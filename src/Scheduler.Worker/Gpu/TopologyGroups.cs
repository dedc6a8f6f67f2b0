namespace Scheduler.Worker.Gpu;

/// <summary>
/// Turns what NVML reports pair by pair into the groups the master places by. NVLink islands are the
/// connected components of active links, where a link whose far end is not a GPU of this host (an
/// NVSwitch) joins every GPU linked to that same device. PCIe switch groups join GPUs whose common
/// ancestor is at most MULTIPLE (no host bridge crossed), NUMA groups those at most NODE. Ids count from 1
/// in order of each group's lowest GPU index; 0 means none (a GPU linked to no other) or unknown (no reading).
/// </summary>
internal static class TopologyGroups
{
    /// <param name="gpus">How many GPUs the host has.</param>
    /// <param name="ancestor">NVML's common ancestor level of GPUs i and j; null where it could not be read.</param>
    /// <param name="addresses">Each GPU's PCI address; null where it could not be read.</param>
    /// <param name="links">Each active NVLink: the GPU it leaves and the PCI address of its far end.</param>
    public static GpuPlacementInfo[] Build(int gpus, Func<int, int, int?> ancestor, IReadOnlyList<PciAddress?> addresses, IEnumerable<(int Gpu, PciAddress Remote)> links)
    {
        var peers = new SortedSet<int>[gpus];
        for (var g = 0; g < gpus; g++)
        {
            peers[g] = [];
        }

        var bySwitch = new Dictionary<PciAddress, List<int>>();
        foreach (var (gpu, remote) in links)
        {
            var other = IndexOf(addresses, remote);
            if (other == gpu)
            {
                continue;
            }

            if (other >= 0)
            {
                peers[gpu].Add(other);
                peers[other].Add(gpu);
            }
            else
            {
                if (!bySwitch.TryGetValue(remote, out var members))
                {
                    bySwitch[remote] = members = [];
                }

                members.Add(gpu);
            }
        }

        foreach (var members in bySwitch.Values)
        {
            foreach (var a in members)
            {
                foreach (var b in members.Where(b => b != a))
                {
                    peers[a].Add(b);
                }
            }
        }

        var islands = Components(gpus, (i, j) => peers[i].Contains(j), singletons: false);
        var levels = new int?[gpus, gpus];
        var read = new bool[gpus];
        for (var i = 0; i < gpus; i++)
        {
            for (var j = i + 1; j < gpus; j++)
            {
                if (ancestor(i, j) is { } level && level >= 0)
                {
                    levels[i, j] = levels[j, i] = level;
                    read[i] = read[j] = true;
                }
            }
        }

        var switches = Components(gpus, (i, j) => levels[i, j] <= NvmlNative.TopologyMultiple, singletons: true);
        var numas = Components(gpus, (i, j) => levels[i, j] <= NvmlNative.TopologyNode, singletons: true);
        return [.. Enumerable.Range(0, gpus).Select(g => new GpuPlacementInfo(
            islands[g],
            read[g] ? switches[g] : 0,
            read[g] ? numas[g] : 0,
            [.. peers[g]]))];
    }

    private static int IndexOf(IReadOnlyList<PciAddress?> addresses, PciAddress remote)
    {
        for (var i = 0; i < addresses.Count; i++)
        {
            if (addresses[i] == remote)
            {
                return i;
            }
        }

        return -1;
    }

    // Component ids (1-based, in order of lowest member) under the relation joined; a component of one GPU
    // gets an id only when singletons is true.
    private static int[] Components(int gpus, Func<int, int, bool> joined, bool singletons)
    {
        var ids = new int[gpus];
        var next = 0;
        for (var start = 0; start < gpus; start++)
        {
            if (ids[start] != 0)
            {
                continue;
            }

            var members = new List<int> { start };
            ids[start] = -1;
            for (var k = 0; k < members.Count; k++)
            {
                for (var other = 0; other < gpus; other++)
                {
                    if (ids[other] == 0 && joined(members[k], other))
                    {
                        ids[other] = -1;
                        members.Add(other);
                    }
                }
            }

            var id = members.Count > 1 || singletons ? ++next : 0;
            foreach (var m in members)
            {
                ids[m] = id;
            }
        }

        return ids;
    }
}
