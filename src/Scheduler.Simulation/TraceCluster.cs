using System.Globalization;
using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Simulation;

/// <summary>Builds idle Core nodes from a node list.</summary>
public static class TraceCluster
{
    /// <summary>A fresh idle <see cref="NodeState"/> per row, in file order.</summary>
    public static NodeState[] Build(IReadOnlyList<TraceNode> nodes)
    {
        var states = new NodeState[nodes.Count];
        for (var n = 0; n < nodes.Count; n++)
        {
            var row = nodes[n];
            var gpus = new GpuDevice[row.GpuCount];
            for (var g = 0; g < gpus.Length; g++)
            {
                gpus[g] = new GpuDevice(g, string.Create(CultureInfo.InvariantCulture, $"{row.Name}-gpu{g}"), row.GpuModel, 0);
            }

            states[n] = new NodeState(row.Name, row.CpuMillis, row.MemoryMib, gpus);
        }

        return states;
    }

    /// <summary>Total milli-GPU of the node list.</summary>
    public static long GpuCapacityMilli(IReadOnlyList<TraceNode> nodes)
    {
        long sum = 0;
        foreach (var n in nodes)
        {
            sum += n.GpuCount * 1000L;
        }

        return sum;
    }
}
