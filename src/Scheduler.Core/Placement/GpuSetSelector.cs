using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Chooses which whole GPUs of one node a job gets. The set is of the best connection the node's free GPUs
/// allow (one NVLink island, else one PCIe switch, else one NUMA node, else across): collective operations
/// run at the speed of the slowest link in the set, so the level is what matters. Among groups of that
/// level it takes the one with the fewest free GPUs (best fit), which keeps large islands whole for the
/// next large job; inside the group it refines by the remaining levels the same way. Nodes whose worker
/// reported no topology keep the first free GPUs in index order, as before topology existed.
/// </summary>
internal static class GpuSetSelector
{
    private const int StackLimit = 128;

    // Best connection first; the recursion drops each level once it has chosen a group of it.
    private static readonly TopologyLevel[] Levels = [TopologyLevel.NvLink, TopologyLevel.PcieSwitch, TopologyLevel.Numa];

    /// <summary>
    /// The level of the best set of <c>Resources.Gpus</c> whole free GPUs of allowed models on
    /// <paramref name="node"/> given its free milli-GPU <paramref name="free"/>; null when too few are free.
    /// </summary>
    public static TopologyLevel? BestLevel(NodeState node, ReadOnlySpan<int> free, JobDemand demand)
    {
        var k = demand.Resources.Gpus;
        Span<int> buffer = node.Gpus.Count <= StackLimit ? stackalloc int[node.Gpus.Count] : new int[node.Gpus.Count];
        var candidates = Candidates(node, free, demand, buffer);
        if (candidates.Length < k)
        {
            return null;
        }

        return k <= 1 ? TopologyLevel.NvLink : !node.HasTopology ? LevelOf(node, candidates[..k]) : BestGroup(node, candidates, k, 0, out _, out _);
    }

    /// <summary>The best level <paramref name="node"/> could offer the job were all its GPUs free; null when it has too few.</summary>
    public static TopologyLevel? BestLevelWhenIdle(NodeState node, JobDemand demand)
    {
        Span<int> idle = node.Gpus.Count <= StackLimit ? stackalloc int[node.Gpus.Count] : new int[node.Gpus.Count];
        idle.Fill(ResourceLimits.MilliPerGpu);
        return BestLevel(node, idle, demand);
    }

    /// <summary>
    /// Adds the chosen whole GPUs to <paramref name="into"/> in index order; false (nothing added) when fewer
    /// than asked are free or no free set meets <see cref="JobDemand.RequiredTopology"/>.
    /// </summary>
    public static bool TryChoose(NodeState node, ReadOnlySpan<int> free, JobDemand demand, List<GpuShare> into)
    {
        var k = demand.Resources.Gpus;
        if (k == 0)
        {
            // CPU-only jobs are scored with no GPUs: nothing to look through.
            return true;
        }
        Span<int> buffer = node.Gpus.Count <= StackLimit ? stackalloc int[node.Gpus.Count] : new int[node.Gpus.Count];
        var candidates = Candidates(node, free, demand, buffer);
        if (candidates.Length < k)
        {
            return false;
        }

        scoped Span<int> chosen;
        if (k <= 1 || !node.HasTopology)
        {
            if (k > 1 && LevelOf(node, candidates[..k]) < demand.RequiredTopology)
            {
                return false;
            }

            chosen = k == 1 && node.HasTopology ? candidates.Slice(BestFitSingle(node, candidates), 1) : candidates[..k];
        }
        else
        {
            if (BestGroup(node, candidates, k, 0, out _, out _) < demand.RequiredTopology)
            {
                return false;
            }

            chosen = Fill(node, candidates, k, 0);
            chosen.Sort();
        }

        foreach (var index in chosen)
        {
            into.Add(new GpuShare(index, ResourceLimits.MilliPerGpu));
        }

        return true;
    }

    /// <summary>
    /// Whole GPUs for <paramref name="count"/> replicas of one gang on <paramref name="node"/>, each replica's set
    /// meeting <see cref="JobDemand.RequiredTopology"/>, and all of them together as well connected as the free
    /// GPUs allow: the union is chosen first as one set of <c>count × Resources.Gpus</c> (best level, best-fit
    /// group), then cut into the replicas' sets. Replicas of one gang talk to each other (all-reduce), so they
    /// belong in one island as much as each replica's own GPUs do. False (<paramref name="into"/> unspecified)
    /// when the node has no topology, fewer than two replicas or no whole GPUs are asked, or the cut fails.
    /// </summary>
    public static bool TryChooseNear(NodeState node, JobDemand demand, int count, List<GpuShare>[] into)
    {
        var k = demand.Resources.Gpus;
        if (count < 2 || k == 0 || demand.Resources.IsSharedGpu || !node.HasTopology || into.Length < count)
        {
            return false;
        }

        var union = new List<GpuShare>(k * count);
        var all = demand with { Resources = demand.Resources with { Gpus = k * count }, RequiredTopology = TopologyLevel.System };
        if (!TryChoose(node, node.GpuFreeMilli, all, union))
        {
            return false;
        }

        // Only the union's GPUs count as free while it is cut, so every replica stays inside it.
        var free = new int[node.Gpus.Count];
        foreach (var share in union)
        {
            free[share.Index] = ResourceLimits.MilliPerGpu;
        }

        for (var r = 0; r < count; r++)
        {
            into[r].Clear();
            if (!TryChoose(node, free, demand, into[r]))
            {
                return false;
            }

            foreach (var share in into[r])
            {
                free[share.Index] = 0;
            }
        }

        return true;
    }

    /// <summary>The level of exactly the GPUs <paramref name="set"/> (indices on <paramref name="node"/>).</summary>
    public static TopologyLevel LevelOf(NodeState node, ReadOnlySpan<int> set)
    {
        if (set.Length <= 1)
        {
            return TopologyLevel.NvLink;
        }

        foreach (var level in Levels)
        {
            var group = node.Gpus[set[0]].Topology.GroupAt(level);
            var all = group != 0;
            for (var i = 1; all && i < set.Length; i++)
            {
                all = node.Gpus[set[i]].Topology.GroupAt(level) == group;
            }

            if (all)
            {
                return level;
            }
        }

        return TopologyLevel.System;
    }

    private static Span<int> Candidates(NodeState node, ReadOnlySpan<int> free, JobDemand demand, Span<int> buffer)
    {
        var n = 0;
        for (var i = 0; i < free.Length; i++)
        {
            if (free[i] == ResourceLimits.MilliPerGpu && node.GpuModelAllowed(i, demand.GpuModels))
            {
                buffer[n++] = i;
            }
        }

        return buffer[..n];
    }

    // The best level among those not yet used (usedLevels bit mask) holding k of the candidates, and the
    // group of that level with the fewest candidates (the first such in index order); System when none.
    private static TopologyLevel BestGroup(NodeState node, ReadOnlySpan<int> candidates, int k, int usedLevels, out int group, out int count)
    {
        foreach (var level in Levels)
        {
            if ((usedLevels & (1 << (int)level)) != 0)
            {
                continue;
            }

            group = 0;
            count = int.MaxValue;
            for (var i = 0; i < candidates.Length; i++)
            {
                var g = node.Gpus[candidates[i]].Topology.GroupAt(level);
                if (g == 0 || SeenBefore(node, candidates, i, level, g))
                {
                    continue;
                }

                var members = CountIn(node, candidates, level, g);
                if (members >= k && members < count)
                {
                    group = g;
                    count = members;
                }
            }

            if (group != 0)
            {
                return level;
            }
        }

        group = 0;
        count = 0;
        return TopologyLevel.System;
    }

    // Moves the chosen k to the front of candidates and returns them.
    private static Span<int> Fill(NodeState node, Span<int> candidates, int k, int usedLevels)
    {
        if (candidates.Length == k)
        {
            return candidates;
        }

        var level = BestGroup(node, candidates, k, usedLevels, out var group, out _);
        if (level == TopologyLevel.System)
        {
            // Nothing of k together at any remaining level: keep GPUs of one NUMA node, switch and island next to each other.
            SortByGroups(node, candidates);
            return candidates[..k];
        }

        var n = 0;
        for (var i = 0; i < candidates.Length; i++)
        {
            if (node.Gpus[candidates[i]].Topology.GroupAt(level) == group)
            {
                (candidates[n], candidates[i]) = (candidates[i], candidates[n]);
                n++;
            }
        }

        var inGroup = candidates[..n];
        inGroup.Sort();
        return Fill(node, inGroup, k, usedLevels | (1 << (int)level));
    }

    // One GPU: the one whose island, then switch, then NUMA node has the fewest free GPUs (none is fewest).
    private static int BestFitSingle(NodeState node, ReadOnlySpan<int> candidates)
    {
        var best = 0;
        (int, int, int) bestKey = (int.MaxValue, int.MaxValue, int.MaxValue);
        for (var i = 0; i < candidates.Length; i++)
        {
            var t = node.Gpus[candidates[i]].Topology;
            var key = (Members(node, candidates, t.NvLinkIsland, TopologyLevel.NvLink), Members(node, candidates, t.PcieSwitch, TopologyLevel.PcieSwitch), Members(node, candidates, t.NumaNode, TopologyLevel.Numa));
            if (key.CompareTo(bestKey) < 0)
            {
                best = i;
                bestKey = key;
            }
        }

        return best;

        static int Members(NodeState node, ReadOnlySpan<int> candidates, int group, TopologyLevel level) =>
            group == 0 ? 0 : CountIn(node, candidates, level, group);
    }

    private static void SortByGroups(NodeState node, Span<int> candidates)
    {
        // Insertion sort: at most a few dozen GPUs, and no comparer to allocate.
        for (var i = 1; i < candidates.Length; i++)
        {
            var x = candidates[i];
            var j = i - 1;
            while (j >= 0 && Compare(node, candidates[j], x) > 0)
            {
                candidates[j + 1] = candidates[j];
                j--;
            }

            candidates[j + 1] = x;
        }

        static int Compare(NodeState node, int a, int b)
        {
            var ta = node.Gpus[a].Topology;
            var tb = node.Gpus[b].Topology;
            var c = ta.NumaNode.CompareTo(tb.NumaNode);
            c = c != 0 ? c : ta.PcieSwitch.CompareTo(tb.PcieSwitch);
            c = c != 0 ? c : ta.NvLinkIsland.CompareTo(tb.NvLinkIsland);
            return c != 0 ? c : a.CompareTo(b);
        }
    }

    private static bool SeenBefore(NodeState node, ReadOnlySpan<int> candidates, int i, TopologyLevel level, int group)
    {
        for (var j = 0; j < i; j++)
        {
            if (node.Gpus[candidates[j]].Topology.GroupAt(level) == group)
            {
                return true;
            }
        }

        return false;
    }

    private static int CountIn(NodeState node, ReadOnlySpan<int> candidates, TopologyLevel level, int group)
    {
        var n = 0;
        foreach (var c in candidates)
        {
            n += node.Gpus[c].Topology.GroupAt(level) == group ? 1 : 0;
        }

        return n;
    }
}
