using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Fairness;

/// <summary>
/// An amount of the three resources fair share and quotas are measured in: CPU millicores,
/// memory MiB and milli-GPU. <see cref="long.MaxValue"/> in a dimension means unlimited.
/// </summary>
public readonly record struct ResourceTotals(long CpuMillis, long MemoryMib, long GpuMilli)
{
    /// <summary>Nothing.</summary>
    public static ResourceTotals Zero => default;

    /// <summary>No limit in any dimension; a quota of this never binds.</summary>
    public static ResourceTotals Unlimited => new(long.MaxValue, long.MaxValue, long.MaxValue);

    /// <summary>What <paramref name="request"/> takes.</summary>
    public static ResourceTotals Of(ResourceRequest request) =>
        new(request.CpuMillis, request.MemoryMib, request.TotalGpuMilli);

    /// <summary>The total capacity of <paramref name="nodes"/>, whatever their health.</summary>
    public static ResourceTotals CapacityOf(IEnumerable<NodeState> nodes)
    {
        var total = Zero;
        foreach (var node in nodes)
        {
            total += new ResourceTotals(node.CpuCapacity, node.MemoryCapacity, node.GpuCapacityMilli);
        }

        return total;
    }

    /// <summary>Sum, saturating at <see cref="long.MaxValue"/> so unlimited stays unlimited.</summary>
    public static ResourceTotals operator +(ResourceTotals a, ResourceTotals b) =>
        new(SaturatingAdd(a.CpuMillis, b.CpuMillis), SaturatingAdd(a.MemoryMib, b.MemoryMib), SaturatingAdd(a.GpuMilli, b.GpuMilli));

    /// <summary>Difference, per dimension.</summary>
    public static ResourceTotals operator -(ResourceTotals a, ResourceTotals b) =>
        new(a.CpuMillis - b.CpuMillis, a.MemoryMib - b.MemoryMib, a.GpuMilli - b.GpuMilli);

    /// <summary>Sum, per dimension.</summary>
    public static ResourceTotals Add(ResourceTotals a, ResourceTotals b) => a + b;

    /// <summary>Difference, per dimension.</summary>
    public static ResourceTotals Subtract(ResourceTotals a, ResourceTotals b) => a - b;

    /// <summary>
    /// The largest fraction of <paramref name="capacity"/> this amount takes in any dimension
    /// (the DRF dominant share); dimensions the cluster has none of are ignored.
    /// </summary>
    public double DominantShare(ResourceTotals capacity) =>
        Math.Max(Share(CpuMillis, capacity.CpuMillis), Math.Max(Share(MemoryMib, capacity.MemoryMib), Share(GpuMilli, capacity.GpuMilli)));

    /// <summary>True when no dimension exceeds <paramref name="limit"/>'s.</summary>
    public bool FitsWithin(ResourceTotals limit) =>
        CpuMillis <= limit.CpuMillis && MemoryMib <= limit.MemoryMib && GpuMilli <= limit.GpuMilli;

    private static double Share(long used, long capacity) => capacity <= 0 ? 0 : (double)used / capacity;

    private static long SaturatingAdd(long a, long b) =>
        a > 0 && b > long.MaxValue - a ? long.MaxValue : a + b;
}
