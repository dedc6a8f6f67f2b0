using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Tests;

[TestFixture]
public sealed class PrinterTests
{
    [Test]
    public void Wide_output_keeps_each_job_on_one_line_with_whole_gpu_uuids()
    {
        var job = new Job
        {
            Id = "j-000042",
            State = JobState.Running,
            NodeId = "worker-with-a-rather-long-host-name-a",
            Attempt = 1,
            Message = "started on worker-with-a-rather-long-host-name-a after a long and winding scheduling pass",
            Spec = new JobSpec { Name = "train-llama-70b-with-a-long-name", Command = "/bin/true", Resources = new Resources { CpuMillis = 4000, MemoryMib = 65536, Gpus = 2 } },
        };
        job.GpuUuids.Add(["GPU-979eac15-a14d-6847-583c-c0f292fa9c2c", "GPU-8b228d99-4152-bbbc-9d76-72cc0a31e3c2"]);
        using var output = new StringWriter();

        new Printer("wide", output).Jobs([job]);

        var row = output.ToString().Split('\n').Single(l => l.Contains("j-000042", StringComparison.Ordinal));
        Assert.That(row, Does.Contain("GPU-979eac15-a14d-6847-583c-c0f292fa9c2c,GPU-8b228d99-4152-bbbc-9d76-72cc0a31e3c2")
            .And.Contain(job.Message).And.Contain("RUNNING"));
    }
}
