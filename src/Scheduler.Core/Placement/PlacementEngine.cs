using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// Filter then score: drops every node the job cannot run on, enumerates the GPU choices on the
/// rest, and lets the policy pick. When nothing fits, the reason counts why each node was dropped,
/// so `jobs get` can tell a user what to change.
/// </summary>
public sealed class PlacementEngine
{
    private readonly IPlacementPolicy _policy;

    /// <summary>Creates an engine that scores with <paramref name="policy"/>.</summary>
    public PlacementEngine(IPlacementPolicy policy) => _policy = policy;

    /// <summary>The scoring policy.</summary>
    public IPlacementPolicy Policy => _policy;

    /// <summary>Finds the best place for <paramref name="demand"/>; does not allocate.</summary>
    public PlacementOutcome Find(JobDemand demand, IEnumerable<NodeState> nodes)
    {
        NodeState? bestNode = null;
        GpuShare[]? bestGpus = null;
        var bestScore = double.NegativeInfinity;
        var rejections = new FilterTally();
        var shares = new List<GpuShare>(8);

        foreach (var node in nodes)
        {
            var why = Filter(node, demand);
            if (why is not null)
            {
                rejections.Add(why);
                continue;
            }

            var r = demand.Resources;
            if (r.IsSharedGpu)
            {
                // Every GPU with room is a distinct choice; GPUs with the same free amount score alike.
                var seenFree = new HashSet<int>();
                for (var i = 0; i < node.Gpus.Count; i++)
                {
                    var free = node.GpuFreeMilli[i];
                    if (free < r.GpuMilli || !node.GpuModelAllowed(i, demand.GpuModels) || !seenFree.Add(free))
                    {
                        continue;
                    }

                    shares.Clear();
                    shares.Add(new GpuShare(i, r.GpuMilli));
                    Consider(node, shares);
                }
            }
            else
            {
                shares.Clear();
                for (var i = 0; i < node.Gpus.Count && shares.Count < r.Gpus; i++)
                {
                    if (node.GpuFreeMilli[i] == ResourceLimits.MilliPerGpu && node.GpuModelAllowed(i, demand.GpuModels))
                    {
                        shares.Add(new GpuShare(i, ResourceLimits.MilliPerGpu));
                    }
                }

                Consider(node, shares);
            }
        }

        if (bestNode is null)
        {
            return new PlacementOutcome(null, rejections.Describe());
        }

        return new PlacementOutcome(new Allocation(demand.JobId, bestNode.Id, demand.Resources, bestGpus!), null);

        void Consider(NodeState node, List<GpuShare> gpus)
        {
            var score = _policy.Score(node, demand, gpus);
            if (score > bestScore)
            {
                bestScore = score;
                bestNode = node;
                bestGpus = [.. gpus];
            }
        }
    }

    /// <summary>Why <paramref name="node"/> cannot take <paramref name="demand"/>, or null when it can.</summary>
    public static string? Filter(NodeState node, JobDemand demand)
    {
        if (node.Health != NodeHealth.Ready)
        {
            return "not ready";
        }

        if (node.Cordoned || node.Draining)
        {
            return "cordoned";
        }

        foreach (var (key, value) in demand.NodeSelector)
        {
            if (!node.Labels.TryGetValue(key, out var actual) || !string.Equals(actual, value, StringComparison.Ordinal))
            {
                return "labels do not match";
            }
        }

        var r = demand.Resources;
        if (r.CpuMillis > node.CpuFree)
        {
            return "too little free CPU";
        }

        if (r.MemoryMib > node.MemoryFree)
        {
            return "too little free memory";
        }

        if (!r.NeedsGpu)
        {
            return null;
        }

        var modelOk = false;
        var fits = 0;
        for (var i = 0; i < node.Gpus.Count; i++)
        {
            if (!node.GpuModelAllowed(i, demand.GpuModels))
            {
                continue;
            }

            modelOk = true;
            var free = node.GpuFreeMilli[i];
            if (r.IsSharedGpu ? free >= r.GpuMilli : free == ResourceLimits.MilliPerGpu)
            {
                fits++;
            }
        }

        if (!modelOk)
        {
            return node.Gpus.Count == 0 ? "no GPUs" : "no GPU of an allowed model";
        }

        return fits >= (r.IsSharedGpu ? 1 : r.Gpus) ? null : "too few free GPUs";
    }

    private sealed class FilterTally
    {
        private readonly SortedDictionary<string, int> _counts = new(StringComparer.Ordinal);
        private int _total;

        public void Add(string reason)
        {
            _counts[reason] = _counts.GetValueOrDefault(reason) + 1;
            _total++;
        }

        public string Describe()
        {
            if (_total == 0)
            {
                return "no nodes registered";
            }

            var parts = _counts
                .OrderByDescending(kv => kv.Value)
                .ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => $"{kv.Value} {(kv.Value == 1 ? "node" : "nodes")}: {kv.Key}");
            return $"no node fits ({string.Join("; ", parts)})";
        }
    }
}
