using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

/// <summary>The shared Alibaba trace (../shared/data beside the repository) reads as its README says.</summary>
[TestFixture]
public sealed class RealTraceTests
{
    private static string? DataDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data", "alibaba-gpu-v2023");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    [Test]
    public void Gpu_node_list_and_pod_lists_have_the_documented_sizes()
    {
        var dir = DataDir();
        Assume.That(dir, Is.Not.Null, "../shared/data is not beside this checkout");

        var nodes = TraceReader.ReadNodes(Path.Combine(dir!, "openb_node_list_gpu_node.csv"));
        Assert.That(nodes, Has.Count.EqualTo(1213));
        Assert.That(nodes.Sum(n => n.GpuCount), Is.EqualTo(6212));
        Assert.That(TraceReader.ReadTasks(Path.Combine(dir!, "openb_pod_list_default.csv")), Has.Count.EqualTo(8152));
        Assert.That(TraceReader.ReadTasks(Path.Combine(dir!, "openb_pod_list_multigpu20.csv")), Has.Count.EqualTo(8324));
        var spec = TraceReader.ReadTasks(Path.Combine(dir!, "openb_pod_list_gpuspec10.csv"));
        Assert.That(spec.Count(t => t.GpuModels.Count > 0), Is.GreaterThan(0));
    }
}
