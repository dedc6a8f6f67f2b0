using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

public sealed class TraceDataTests
{
    [Test]
    public void Reads_the_published_node_and_task_lists()
    {
        var dir = FindTraceDirectory();
        var nodes = TraceReader.ReadNodes(Path.Combine(dir, "openb_node_list_gpu_node.csv"));
        var tasks = TraceReader.ReadTasks(Path.Combine(dir, "openb_pod_list_default.csv"));
        var multi = TraceReader.ReadTasks(Path.Combine(dir, "openb_pod_list_multigpu20.csv"));
        var spec = TraceReader.ReadTasks(Path.Combine(dir, "openb_pod_list_gpuspec10.csv"));

        Assert.Multiple(() =>
        {
            Assert.That(nodes, Has.Count.EqualTo(1213));
            Assert.That(nodes.Sum(n => n.GpuCount), Is.EqualTo(6212));
            Assert.That(tasks, Has.Count.EqualTo(8152));
            Assert.That(tasks.Count(t => t.GpuCount == 0), Is.EqualTo(1088));
            Assert.That(tasks.Count(t => t.SharesGpu), Is.EqualTo(3078));
            Assert.That(tasks.All(t => t.CreationTime is not null), Is.True);
            Assert.That(multi, Has.Count.EqualTo(8324));
            Assert.That(multi.All(t => t.CreationTime is null), Is.True);
            Assert.That(spec.Count(t => t.GpuModels.Count > 0), Is.EqualTo(732));
        });
    }

    [Test]
    public void Names_file_line_and_column_of_a_bad_value()
    {
        string[] lines = ["name,cpu_milli,memory_mib,num_gpu,gpu_milli", "t,1000,1024,two,1000"];

        Assert.That(
            () => TraceReader.ParseTasks(lines, "tasks.csv"),
            Throws.TypeOf<TraceFormatException>().With.Message.Contains("tasks.csv:2").And.Message.Contains("num_gpu"));
    }

    private static string FindTraceDirectory()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "shared", "data"), Path.Combine(dir.FullName, "..", "shared", "data") })
            {
                var trace = Path.Combine(candidate, "alibaba-gpu-v2023");
                if (File.Exists(Path.Combine(trace, "openb_node_list_gpu_node.csv")))
                {
                    return trace;
                }
            }
        }

        Assert.Ignore("shared/data/alibaba-gpu-v2023 not found above the test directory");
        return string.Empty;
    }
}
