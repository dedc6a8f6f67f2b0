namespace Scheduler.Core.Resources;

/// <summary>The names of <see cref="TopologyLevel"/> in job specs (`topology: nvlink`), in messages and in the CLI.</summary>
public static class TopologyLevels
{
    /// <summary>No requirement.</summary>
    public const string Any = "";

    /// <summary>All GPUs in one NVLink island.</summary>
    public const string NvLink = "nvlink";

    /// <summary>All GPUs in one NVLink island or under one PCIe switch.</summary>
    public const string PcieSwitch = "pcie-switch";

    /// <summary>All GPUs in one NVLink island, under one PCIe switch or in one NUMA node.</summary>
    public const string Numa = "numa";

    /// <summary>The names a job may ask for, best connection first ("" means none).</summary>
    public static IReadOnlyList<string> Names { get; } = [NvLink, PcieSwitch, Numa];

    /// <summary>The level a job's <c>topology</c> names; false for an unknown name.</summary>
    public static bool TryParse(string? name, out TopologyLevel level)
    {
        level = name switch
        {
            null or Any => TopologyLevel.System,
            NvLink => TopologyLevel.NvLink,
            PcieSwitch => TopologyLevel.PcieSwitch,
            Numa => TopologyLevel.Numa,
            _ => (TopologyLevel)(-1),
        };
        return level >= TopologyLevel.System;
    }

    /// <summary>The spec name of <paramref name="level"/>; "" for <see cref="TopologyLevel.System"/>.</summary>
    public static string Name(TopologyLevel level) => level switch
    {
        TopologyLevel.NvLink => NvLink,
        TopologyLevel.PcieSwitch => PcieSwitch,
        TopologyLevel.Numa => Numa,
        _ => Any,
    };

    /// <summary>What holds a set at <paramref name="level"/>, in words: "NVLink island", "PCIe switch (or NVLink island)".</summary>
    public static string Describe(TopologyLevel level) => level switch
    {
        TopologyLevel.NvLink => "NVLink island",
        TopologyLevel.PcieSwitch => "PCIe switch (or NVLink island)",
        TopologyLevel.Numa => "NUMA node (or PCIe switch or NVLink island)",
        _ => "node",
    };
}
