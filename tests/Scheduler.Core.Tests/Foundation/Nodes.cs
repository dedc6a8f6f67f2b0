using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Foundation;

/// <summary>Builders for test clusters.</summary>
internal static class Nodes
{
    public static NodeState Node(string id, int gpus = 4, string model = "A100", long cpu = 16_000, long memory = 65_536, IReadOnlyDictionary<string, string>? labels = null) =>
        new(id, cpu, memory, Enumerable.Range(0, gpus).Select(i => new GpuDevice(i, $"GPU-{id}-{i}", model, 40_960)).ToArray(), labels);

    /// <summary>Checks every invariant a user relies on: nothing over capacity, books that add up.</summary>
    public static void AssertConsistent(NodeState node)
    {
        var allocations = node.Allocations.Values.ToArray();
        Assert.That(node.CpuFree, Is.EqualTo(node.CpuCapacity - allocations.Sum(a => a.Resources.CpuMillis)).And.GreaterThanOrEqualTo(0), node.Id);
        Assert.That(node.MemoryFree, Is.EqualTo(node.MemoryCapacity - allocations.Sum(a => a.Resources.MemoryMib)).And.GreaterThanOrEqualTo(0), node.Id);
        for (var i = 0; i < node.Gpus.Count; i++)
        {
            var used = allocations.SelectMany(a => a.Gpus).Where(g => g.Index == i).Sum(g => g.Milli);
            Assert.That(node.GpuFreeMilli[i], Is.EqualTo(ResourceLimits.MilliPerGpu - used).And.InRange(0, ResourceLimits.MilliPerGpu), $"{node.Id} GPU {i}");
        }

        foreach (var a in allocations)
        {
            var r = a.Resources;
            if (r.IsSharedGpu)
            {
                Assert.That(a.Gpus, Has.Count.EqualTo(1), $"{a.JobId} shares exactly one GPU");
                Assert.That(a.Gpus[0].Milli, Is.EqualTo(r.GpuMilli));
            }
            else
            {
                Assert.That(a.Gpus, Has.Count.EqualTo(r.Gpus), $"{a.JobId} gets its whole GPUs");
                Assert.That(a.Gpus.Select(g => g.Index), Is.Unique);
                Assert.That(a.Gpus.Select(g => g.Milli), Has.All.EqualTo(ResourceLimits.MilliPerGpu));
            }
        }
    }
}
