using System.Diagnostics;
using System.Text.Json;
using Scheduler.Tests.Common;

namespace Scheduler.Worker.Tests;

/// <summary>
/// The worker's real NVML binding reading topology from a stand-in libnvidia-ml.so.1 built here with the
/// C compiler: four GPUs, 0+1 bridged by NVLink under one PCIe switch, 2+3 joined through an NVSwitch under
/// another, all four under one NUMA node. Built without the topology functions, it stands for an old driver.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class NvmlTopologyProcessTests
{
    private const string FakeNvml =
        """
        #include <stdio.h>
        #include <string.h>
        typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
        typedef struct { char busIdLegacy[16]; unsigned domain, bus, device, pciDeviceId, pciSubSystemId; char busId[32]; } nvmlPciInfo_t;
        int nvmlInit_v2(void) { return 0; }
        int nvmlShutdown(void) { return 0; }
        int nvmlDeviceGetCount_v2(unsigned *count) { *count = 4; return 0; }
        int nvmlDeviceGetHandleByIndex_v2(unsigned index, void **device) { *device = (void *)(long)(index + 1); return 0; }
        int nvmlDeviceGetUUID(void *device, char *uuid, unsigned length) { snprintf(uuid, length, "GPU-fake-%ld", (long)device); return 0; }
        int nvmlDeviceGetName(void *device, char *name, unsigned length) { snprintf(name, length, "NVIDIA H100 80GB HBM3"); return 0; }
        int nvmlDeviceGetMemoryInfo(void *device, nvmlMemory_t *memory) { memory->total = 81559ULL << 20; memory->used = 0; memory->free = memory->total; return 0; }
        int nvmlDeviceGetUtilizationRates(void *device, unsigned *rates) { rates[0] = 0; rates[1] = 0; return 0; }
        int nvmlDeviceGetTemperature(void *device, int sensor, unsigned *celsius) { *celsius = 30; return 0; }
        int nvmlDeviceGetPowerUsage(void *device, unsigned *milliwatts) { *milliwatts = 60000; return 0; }
        int nvmlDeviceGetTotalEccErrors(void *device, int type, int counter, unsigned long long *count) { *count = 0; return 0; }
        const char *nvmlErrorString(int result) { return "Unknown Error"; }
        #ifndef NO_TOPOLOGY
        static void address(nvmlPciInfo_t *pci, unsigned bus) { memset(pci, 0, sizeof *pci); pci->bus = bus; snprintf(pci->busId, sizeof pci->busId, "00000000:%02X:00.0", bus); }
        int nvmlDeviceGetPciInfo_v3(void *device, nvmlPciInfo_t *pci) { address(pci, 0x10 * (unsigned)(long)device); return 0; }
        int nvmlDeviceGetTopologyCommonAncestor(void *a, void *b, int *level) { long x = (long)a - 1, y = (long)b - 1; *level = x / 2 == y / 2 ? 10 : 40; return 0; }
        int nvmlDeviceGetNvLinkState(void *device, unsigned link, int *active) {
          if (link >= 4) return 2;
          *active = (long)device <= 2 ? link == 0 : link < 2;
          return 0;
        }
        int nvmlDeviceGetNvLinkRemotePciInfo_v2(void *device, unsigned link, nvmlPciInfo_t *pci) {
          long d = (long)device;
          address(pci, d == 1 ? 0x20 : d == 2 ? 0x10 : 0xf0 + link);
          return 0;
        }
        #endif
        """;

    private string _dir = null!;

    [SetUp]
    public void MakeDirectory()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"nvml-topo-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Probe_reads_nvlink_islands_pcie_switches_and_numa_nodes_through_the_nvml_binding()
    {
        var library = await BuildFakeNvmlAsync(withTopology: true);

        var devices = await ProbeAsync(library);

        Assert.That(devices.Select(d => d.GetProperty("NvlinkIsland").GetInt32()), Is.EqualTo(new[] { 1, 1, 2, 2 }));
        Assert.That(devices.Select(d => d.GetProperty("PcieSwitch").GetInt32()), Is.EqualTo(new[] { 1, 1, 2, 2 }));
        Assert.That(devices.Select(d => d.GetProperty("NumaNode").GetInt32()), Is.EqualTo(new[] { 1, 1, 1, 1 }));
        Assert.That(devices.Select(d => string.Join(',', d.GetProperty("NvlinkPeers").EnumerateArray().Select(p => p.GetInt32()))), Is.EqualTo(new[] { "1", "0", "3", "2" }));
    }

    [Test]
    public async Task A_driver_without_the_topology_functions_still_probes_and_says_what_it_lacks()
    {
        var library = await BuildFakeNvmlAsync(withTopology: false);

        var result = await RunProbeAsync(library);

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        var report = JsonDocument.Parse(result.Out).RootElement;
        var devices = report.GetProperty("devices").EnumerateArray().ToArray();
        Assert.That(devices, Has.Length.EqualTo(4));
        Assert.That(devices.Select(d => d.GetProperty("NvlinkIsland").GetInt32() + d.GetProperty("PcieSwitch").GetInt32() + d.GetProperty("NumaNode").GetInt32()), Has.All.Zero);
        Assert.That(report.GetProperty("topologyNote").GetString(), Does.Contain("nvmlDeviceGetTopologyCommonAncestor").And.Contain("nvmlDeviceGetPciInfo_v3"));
    }

    private async Task<JsonElement[]> ProbeAsync(string library)
    {
        var result = await RunProbeAsync(library);
        Assert.That(result.ExitCode, Is.Zero, result.Err);
        var report = JsonDocument.Parse(result.Out).RootElement;
        Assert.That(report.GetProperty("topologyNote").GetString(), Is.Empty);
        return [.. report.GetProperty("devices").EnumerateArray()];
    }

    private Task<CommandResult> RunProbeAsync(string libraryDir) =>
        DotnetCommand.RunAsync(
            Artifacts.WorkerDll,
            ["--master", "http://127.0.0.1:1", "--data-dir", Path.Combine(_dir, "worker"), "--gpu-probe", "nvml", "--probe-only"],
            _dir,
            TimeSpan.FromSeconds(60),
            new Dictionary<string, string?> { ["LD_LIBRARY_PATH"] = libraryDir });

    private async Task<string> BuildFakeNvmlAsync(bool withTopology)
    {
        Assume.That(File.Exists("/usr/bin/cc"), Is.True, "a C compiler builds the stand-in NVML library");
        var source = Path.Combine(_dir, "nvml.c");
        await File.WriteAllTextAsync(source, FakeNvml);
        var info = new ProcessStartInfo("/usr/bin/cc") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-shared", "-fPIC", withTopology ? "-DWITH_TOPOLOGY" : "-DNO_TOPOLOGY", "-o", Path.Combine(_dir, "libnvidia-ml.so.1"), source })
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
