using System.Security.Cryptography;
using System.Text;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Gpu;

/// <summary>
/// Stands in for NVML where there is no GPU. UUIDs derive from the node id and index, so a
/// restarted worker reports the same GPUs; readings follow which GPUs have agents, with seeded noise.
/// </summary>
internal sealed class SimulatedGpuProbe : IGpuProbe
{
    private readonly Random _random;

    /// <param name="topology">`--sim-gpu-topology` (see <see cref="SimulatedTopology"/>); "" reports none. Throws <see cref="FormatException"/> when invalid.</param>
    public SimulatedGpuProbe(string nodeId, int count, string model, long memoryMib, string topology = "")
    {
        var places = SimulatedTopology.Parse(topology, count);
        Devices = Enumerable.Range(0, count)
            .Select(i =>
            {
                var info = new GpuInfo { Index = i, Uuid = UuidFor(nodeId, i), Model = model, MemoryMib = memoryMib };
                places[i].ApplyTo(info);
                return info;
            })
            .ToArray();
        _random = new Random(StableSeed(nodeId));
    }

    public string Kind => "simulated";

    public IReadOnlyList<GpuInfo> Devices { get; }

    public IReadOnlyList<GpuTelemetry> Sample(IReadOnlySet<string> busyUuids)
    {
        var readings = new GpuTelemetry[Devices.Count];
        for (var i = 0; i < readings.Length; i++)
        {
            var device = Devices[i];
            var busy = busyUuids.Contains(device.Uuid);
            readings[i] = new GpuTelemetry
            {
                Index = device.Index,
                Uuid = device.Uuid,
                UtilizationPercent = busy ? (uint)_random.Next(70, 100) : 0u,
                MemoryUsedMib = busy ? device.MemoryMib / 2 : 0,
                MemoryTotalMib = device.MemoryMib,
                TemperatureC = busy ? (uint)_random.Next(60, 80) : 35u,
                PowerMw = busy ? (uint)_random.Next(250_000, 350_000) : 60_000u,
                EccErrors = 0,
            };
        }

        return readings;
    }

    public void Dispose()
    {
    }

    internal static string UuidFor(string nodeId, int index)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{nodeId}/{index}"));
        return "GPU-" + new Guid(hash.AsSpan(0, 16)).ToString();
    }

    private static int StableSeed(string nodeId) =>
        BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(nodeId)), 0);
}
