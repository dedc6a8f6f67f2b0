using System.Text;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Gpu;

/// <summary>
/// Reads real GPUs through NVML. Construction initialises the library and takes the inventory;
/// it throws <see cref="DllNotFoundException"/> where the driver is absent and
/// <see cref="NvmlException"/> where NVML refuses, so callers can fall back.
/// </summary>
internal sealed class NvmlGpuProbe : IGpuProbe
{
    private readonly nint[] _handles;
    private bool _disposed;

    public NvmlGpuProbe()
    {
        Check("nvmlInit_v2", NvmlNative.Init());
        try
        {
            Check("nvmlDeviceGetCount_v2", NvmlNative.DeviceGetCount(out var count));
            _handles = new nint[count];
            var devices = new GpuInfo[count];
            for (var i = 0u; i < count; i++)
            {
                Check("nvmlDeviceGetHandleByIndex_v2", NvmlNative.DeviceGetHandleByIndex(i, out _handles[i]));
                Check("nvmlDeviceGetMemoryInfo", NvmlNative.DeviceGetMemoryInfo(_handles[i], out var memory));
                devices[i] = new GpuInfo
                {
                    Index = (int)i,
                    Uuid = ReadString(_handles[i], uuid: true),
                    Model = ReadString(_handles[i], uuid: false),
                    MemoryMib = (long)(memory.Total / (1024 * 1024)),
                };
            }

            var topology = NvmlTopology.Read(_handles);
            for (var i = 0; i < devices.Length; i++)
            {
                topology.Gpus[i].ApplyTo(devices[i]);
            }

            TopologyNote = topology.Note;
            Devices = devices;
        }
        catch
        {
            _ = NvmlNative.Shutdown();
            throw;
        }
    }

    public string Kind => "nvml";

    public IReadOnlyList<GpuInfo> Devices { get; }

    /// <summary>What of the topology NVML could not tell (for `--probe-only` and the start-up log); "" when all was read.</summary>
    public string TopologyNote { get; } = "";

    public IReadOnlyList<GpuTelemetry> Sample(IReadOnlySet<string> busyUuids)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var readings = new List<GpuTelemetry>(_handles.Length);
        for (var i = 0; i < _handles.Length; i++)
        {
            var handle = _handles[i];
            if (NvmlNative.DeviceGetMemoryInfo(handle, out var memory) != NvmlNative.Success)
            {
                // A GPU that stopped answering (fallen off the bus) reports nothing; the master sees it missing.
                continue;
            }

            var reading = new GpuTelemetry
            {
                Index = i,
                Uuid = Devices[i].Uuid,
                MemoryUsedMib = (long)(memory.Used / (1024 * 1024)),
                MemoryTotalMib = (long)(memory.Total / (1024 * 1024)),
            };
            if (NvmlNative.DeviceGetUtilizationRates(handle, out var utilization) == NvmlNative.Success)
            {
                reading.UtilizationPercent = utilization.Gpu;
            }

            if (NvmlNative.DeviceGetTemperature(handle, NvmlNative.TemperatureGpu, out var celsius) == NvmlNative.Success)
            {
                reading.TemperatureC = celsius;
            }

            if (NvmlNative.DeviceGetPowerUsage(handle, out var milliwatts) == NvmlNative.Success)
            {
                reading.PowerMw = milliwatts;
            }

            // NOT_SUPPORTED on consumer GPUs without ECC: reported as 0 as the contract says.
            if (NvmlNative.DeviceGetTotalEccErrors(handle, NvmlNative.MemoryErrorUncorrected, NvmlNative.VolatileEcc, out var ecc) == NvmlNative.Success)
            {
                reading.EccErrors = ecc;
            }

            readings.Add(reading);
        }

        return readings;
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _ = NvmlNative.Shutdown();
        }
    }

    private static unsafe string ReadString(nint handle, bool uuid)
    {
        var buffer = stackalloc byte[NvmlNative.StringBufferSize];
        var result = uuid
            ? NvmlNative.DeviceGetUuid(handle, buffer, NvmlNative.StringBufferSize)
            : NvmlNative.DeviceGetName(handle, buffer, NvmlNative.StringBufferSize);
        Check(uuid ? "nvmlDeviceGetUUID" : "nvmlDeviceGetName", result);
        var span = new ReadOnlySpan<byte>(buffer, NvmlNative.StringBufferSize);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }

    private static void Check(string call, int result)
    {
        if (result != NvmlNative.Success)
        {
            throw new NvmlException(call, result);
        }
    }
}
