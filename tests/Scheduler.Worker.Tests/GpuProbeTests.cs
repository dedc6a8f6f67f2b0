using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Worker.Gpu;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class GpuProbeTests
{
    [Test]
    public void Simulated_probe_gives_stable_distinct_uuids_per_node()
    {
        using var a = new SimulatedGpuProbe("node-a", 4, "H100", 81920);
        using var again = new SimulatedGpuProbe("node-a", 4, "H100", 81920);
        using var b = new SimulatedGpuProbe("node-b", 4, "H100", 81920);

        Assert.That(a.Devices.Select(d => d.Uuid), Is.EqualTo(again.Devices.Select(d => d.Uuid)));
        Assert.That(a.Devices.Select(d => d.Uuid).Concat(b.Devices.Select(d => d.Uuid)), Is.Unique);
        Assert.That(a.Devices, Has.All.Matches<Contracts.V1.GpuInfo>(d => d!.Model == "H100" && d.MemoryMib == 81920 && d.Uuid.StartsWith("GPU-", StringComparison.Ordinal)));
    }

    [Test]
    public void Simulated_telemetry_shows_load_only_on_busy_gpus()
    {
        using var probe = new SimulatedGpuProbe("node-a", 2, "A100", 40960);

        var readings = probe.Sample(new HashSet<string> { probe.Devices[1].Uuid });

        Assert.That(readings[0].UtilizationPercent, Is.Zero);
        Assert.That(readings[1].UtilizationPercent, Is.InRange(70u, 100u));
        Assert.That(readings[1].MemoryTotalMib, Is.EqualTo(40960));
    }

    [Test]
    public void Nvml_probe_fails_loudly_where_there_is_no_driver_and_auto_falls_back()
    {
        // This machine class has no NVIDIA driver; on a GPU host this test does not apply.
        Assume.That(File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"), Is.False);
        var options = new WorkerOptions { GpuProbe = "auto", Gpus = 3, GpuModel = "T4" };

        Assert.Throws<DllNotFoundException>(() => new NvmlGpuProbe().Dispose());
        using var probe = GpuProbeFactory.Create(options, "node-a", NullLogger.Instance);

        Assert.That(probe.Kind, Is.EqualTo("simulated"));
        Assert.That(probe.Devices, Has.Count.EqualTo(3));
        Assert.Throws<DllNotFoundException>(() => GpuProbeFactory.Create(new WorkerOptions { GpuProbe = "nvml" }, "node-a", NullLogger.Instance).Dispose());
    }
}
