using Microsoft.Extensions.Logging;
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
    public void Auto_probe_on_a_host_without_the_driver_offers_no_gpus_and_warns()
    {
        AssumeNoDriver();
        var logger = new RecordingLogger();

        using var probe = GpuProbeFactory.Create(new WorkerOptions { GpuProbe = "auto", Gpus = 3 }, "node-a", logger);

        Assert.That(probe.Kind, Is.EqualTo("none"));
        Assert.That(probe.Devices, Is.Empty, "no simulated GPUs unless asked for by name");
        Assert.That(logger.Entries, Has.One.Matches<(LogLevel Level, string Text)>(e => e.Level == LogLevel.Warning && e.Text.Contains("NO GPUs", StringComparison.Ordinal)));
        Assert.That(GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "auto" }), Is.Null, "a CPU-only host may start");
    }

    [Test]
    public void Nvml_probe_on_a_host_without_the_driver_is_refused_in_one_line_naming_the_library()
    {
        AssumeNoDriver();
        var options = new WorkerOptions { GpuProbe = "nvml" };

        var refusal = GpuProbeFactory.Refusal(options);

        Assert.That(refusal, Does.Contain("libnvidia-ml.so.1").And.Not.Contain('\n'));
        Assert.That(() => GpuProbeFactory.Create(options, "node-a", NullLogger.Instance), Throws.TypeOf<GpuProbeException>());
    }

    [Test]
    public void Simulated_gpus_are_only_made_when_asked_for_by_name()
    {
        Assert.That(GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "simulated" }), Is.Null);
        Assert.That(GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "fake" }), Is.EqualTo("--gpu-probe must be auto, nvml or simulated (got 'fake')"));
    }

    private static void AssumeNoDriver() =>
        Assume.That(File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"), Is.False, "this host has an NVIDIA driver");

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
