using System.Diagnostics;
using System.Text.Json;
using Scheduler.Tests.Common;

namespace Scheduler.Worker.Tests;

/// <summary>
/// The worker process with the real NVML binding: against the missing driver of this machine class, and
/// against a small stand-in libnvidia-ml.so.1 built here with the C compiler, found through LD_LIBRARY_PATH.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class NvmlProcessTests
{
    // Implements the slice of nvml.h the probe calls: two H100s, or an nvmlInit_v2 that fails with INIT_RESULT.
    private const string FakeNvml =
        """
        #include <stdio.h>
        typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
        int nvmlInit_v2(void) { return INIT_RESULT; }
        int nvmlShutdown(void) { return 0; }
        int nvmlDeviceGetCount_v2(unsigned *count) { *count = 2; return 0; }
        int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **device) { *device = (void *)(long)(index + 1); return 0; }
        int nvmlDeviceGetUUID(void *device, char *uuid, unsigned length) { snprintf(uuid, length, "GPU-fake-%ld", (long)device); return 0; }
        int nvmlDeviceGetName(void *device, char *name, unsigned length) { snprintf(name, length, "NVIDIA H100 80GB HBM3"); return 0; }
        int nvmlDeviceGetMemoryInfo(void *device, nvmlMemory_t *memory) { memory->total = 81559ULL << 20; memory->used = 1024ULL << 20; memory->free = memory->total - memory->used; return 0; }
        int nvmlDeviceGetUtilizationRates(void *device, unsigned *rates) { rates[0] = 42; rates[1] = 7; return 0; }
        int nvmlDeviceGetTemperature(void *device, int sensor, unsigned *celsius) { *celsius = 55; return 0; }
        int nvmlDeviceGetPowerUsage(void *device, unsigned *milliwatts) { *milliwatts = 123000; return 0; }
        int nvmlDeviceGetTotalEccErrors(void *device, int type, int counter, unsigned long long *count) { return 3; }
        const char *nvmlErrorString(int result) { return result == 9 ? "Driver Not Loaded" : "Unknown Error"; }
        """;

    private string _dir = null!;

    [SetUp]
    public void MakeDirectory()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"nvml-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Worker_asked_for_nvml_on_a_host_without_the_driver_exits_non_zero_with_one_line()
    {
        Assume.That(File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"), Is.False, "this host has an NVIDIA driver");

        var result = await RunWorkerAsync(null, "--gpu-probe", "nvml");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.Err);
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: NVML is not available: libnvidia-ml.so.1").And.Not.Contain('\n'));
    }

    [Test]
    public async Task Probe_only_reads_gpus_and_telemetry_through_the_nvml_binding()
    {
        var library = await BuildFakeNvmlAsync(initResult: 0);

        var result = await RunWorkerAsync(library, "--gpu-probe", "nvml", "--probe-only");

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        var report = JsonDocument.Parse(result.Out).RootElement;
        Assert.That(report.GetProperty("probe").GetString(), Is.EqualTo("nvml"));
        var devices = report.GetProperty("devices").EnumerateArray().ToArray();
        Assert.That(devices.Select(d => d.GetProperty("Uuid").GetString()), Is.EqualTo(new[] { "GPU-fake-1", "GPU-fake-2" }));
        Assert.That(devices.Select(d => d.GetProperty("Model").GetString()), Has.All.EqualTo("NVIDIA H100 80GB HBM3"));
        Assert.That(devices.Select(d => d.GetProperty("MemoryMib").GetInt64()), Has.All.EqualTo(81559));
        var reading = report.GetProperty("telemetry")[0];
        Assert.That(
            (reading.GetProperty("UtilizationPercent").GetInt32(), reading.GetProperty("MemoryUsedMib").GetInt64(), reading.GetProperty("TemperatureC").GetInt32(), reading.GetProperty("PowerMw").GetInt32(), reading.GetProperty("EccErrors").GetInt64()),
            Is.EqualTo((42, 1024L, 55, 123000, 0L)));
    }

    [Test]
    public async Task Auto_refuses_to_start_where_the_driver_is_installed_but_fails()
    {
        var library = await BuildFakeNvmlAsync(initResult: 9);

        var result = await RunWorkerAsync(library, "--gpu-probe", "auto");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.Err);
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: NVML failed: nvmlInit_v2 failed: Driver Not Loaded (9)")
            .And.Contain("refuses to start").And.Not.Contain('\n'));
    }

    private Task<CommandResult> RunWorkerAsync(string? libraryDir, params string[] args) =>
        DotnetCommand.RunAsync(
            Artifacts.WorkerDll,
            // The probe is checked after the transport settings; plaintext keeps certificates out of a test about NVML.
            ["--master", "http://127.0.0.1:1", "--insecure", "--data-dir", Path.Combine(_dir, "worker"), .. args],
            _dir,
            TimeSpan.FromSeconds(60),
            libraryDir is null ? null : new Dictionary<string, string?> { ["LD_LIBRARY_PATH"] = libraryDir });

    private async Task<string> BuildFakeNvmlAsync(int initResult)
    {
        Assume.That(File.Exists("/usr/bin/cc"), Is.True, "a C compiler builds the stand-in NVML library");
        var source = Path.Combine(_dir, "nvml.c");
        await File.WriteAllTextAsync(source, FakeNvml);
        var info = new ProcessStartInfo("/usr/bin/cc") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-shared", "-fPIC", $"-DINIT_RESULT={initResult}", "-o", Path.Combine(_dir, "libnvidia-ml.so.1"), source })
        {
            info.ArgumentList.Add(arg);
        }

        using var cc = Process.Start(info)!;
        var errors = cc.StandardError.ReadToEndAsync();
        await cc.WaitForExitAsync();
        Assert.That(cc.ExitCode, Is.Zero, await errors);
        return _dir;
    }
}
