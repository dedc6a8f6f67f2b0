using System.Runtime.InteropServices;

namespace Scheduler.Worker.Gpu;

/// <summary>The slice of the NVML C API the probe uses (nvml.h); return value 0 is NVML_SUCCESS.</summary>
internal static partial class NvmlNative
{
    public const string Library = "libnvidia-ml.so.1";
    public const int Success = 0;
    public const int NotSupported = 3;

    // NVML_DEVICE_UUID_V2_BUFFER_SIZE and NVML_DEVICE_NAME_V2_BUFFER_SIZE.
    public const int StringBufferSize = 96;

    // NVML_TEMPERATURE_GPU, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC.
    public const int TemperatureGpu = 0;
    public const int MemoryErrorUncorrected = 1;
    public const int VolatileEcc = 0;

    [StructLayout(LayoutKind.Sequential)]
    public struct Memory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Utilization
    {
        public uint Gpu;
        public uint Memory;
    }

    [LibraryImport(Library, EntryPoint = "nvmlInit_v2")]
    public static partial int Init();

    [LibraryImport(Library, EntryPoint = "nvmlShutdown")]
    public static partial int Shutdown();

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetCount_v2")]
    public static partial int DeviceGetCount(out uint count);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    public static partial int DeviceGetHandleByIndex(uint index, out nint device);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUUID")]
    public static unsafe partial int DeviceGetUuid(nint device, byte* uuid, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetName")]
    public static unsafe partial int DeviceGetName(nint device, byte* name, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetMemoryInfo")]
    public static partial int DeviceGetMemoryInfo(nint device, out Memory memory);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUtilizationRates")]
    public static partial int DeviceGetUtilizationRates(nint device, out Utilization utilization);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTemperature")]
    public static partial int DeviceGetTemperature(nint device, int sensor, out uint celsius);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerUsage")]
    public static partial int DeviceGetPowerUsage(nint device, out uint milliwatts);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTotalEccErrors")]
    public static partial int DeviceGetTotalEccErrors(nint device, int errorType, int counterType, out ulong count);

    // nvmlGpuTopologyLevel_t: INTERNAL 0, SINGLE 10, MULTIPLE 20, HOSTBRIDGE 30, NODE 40, SYSTEM 50.
    public const int TopologyMultiple = 20;
    public const int TopologyNode = 40;

    // NVML_NVLINK_MAX_LINKS of current nvml.h (older drivers have fewer and answer INVALID_ARGUMENT past theirs).
    public const uint NvLinkMaxLinks = 18;

    // nvmlEnableState_t.
    public const int FeatureEnabled = 1;

    /// <summary>nvmlPciInfo_t (the v3 layout, also what nvmlDeviceGetNvLinkRemotePciInfo_v2 fills).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct PciInfo
    {
        public fixed byte BusIdLegacy[16];
        public uint Domain;
        public uint Bus;
        public uint Device;
        public uint PciDeviceId;
        public uint PciSubSystemId;
        public fixed byte BusId[32];
    }

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPciInfo_v3")]
    public static partial int DeviceGetPciInfo(nint device, out PciInfo pci);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTopologyCommonAncestor")]
    public static partial int DeviceGetTopologyCommonAncestor(nint device1, nint device2, out int level);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetNvLinkState")]
    public static partial int DeviceGetNvLinkState(nint device, uint link, out int isActive);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetNvLinkRemotePciInfo_v2")]
    public static partial int DeviceGetNvLinkRemotePciInfo(nint device, uint link, out PciInfo pci);

    [LibraryImport(Library, EntryPoint = "nvmlErrorString")]
    public static partial nint ErrorString(int result);

    public static string Describe(int result) =>
        Marshal.PtrToStringUTF8(ErrorString(result)) ?? $"NVML error {result}";
}
