namespace Scheduler.Core.Resources;

/// <summary>
/// How well a set of GPUs is connected, worst first, so a larger value is a better connection. A set is at
/// the best level whose group holds all of it; a set of one GPU has nothing to talk to and counts as
/// <see cref="NvLink"/>.
/// </summary>
public enum TopologyLevel
{
    /// <summary>Across NUMA nodes (or unknown): also the "no requirement" of a job.</summary>
    System = 0,

    /// <summary>All under one NUMA node.</summary>
    Numa = 1,

    /// <summary>All under one PCIe switch tree, without crossing a host bridge.</summary>
    PcieSwitch = 2,

    /// <summary>All in one NVLink island.</summary>
    NvLink = 3,
}
