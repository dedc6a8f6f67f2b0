using System.Globalization;

namespace Scheduler.Core.Fairness;

/// <summary>
/// Per-tenant upper bounds on what a tenant may hold at once. A tenant without an entry is
/// unlimited; a job that would take its tenant past the quota waits, with a reason naming it.
/// </summary>
public sealed class TenantQuotas
{
    private readonly Dictionary<string, ResourceTotals> _quotas;

    /// <summary>Creates the table from tenant name to quota.</summary>
    public TenantQuotas(IReadOnlyDictionary<string, ResourceTotals> quotas) =>
        _quotas = new Dictionary<string, ResourceTotals>(quotas, StringComparer.Ordinal);

    /// <summary>No quotas at all.</summary>
    public static TenantQuotas None { get; } = new(new Dictionary<string, ResourceTotals>());

    /// <summary>The quota of <paramref name="tenant"/>, or <see cref="ResourceTotals.Unlimited"/>.</summary>
    public ResourceTotals For(string tenant) => _quotas.GetValueOrDefault(tenant, ResourceTotals.Unlimited);

    /// <summary>
    /// Null when <paramref name="tenant"/>, now holding <paramref name="usage"/>, may also take
    /// <paramref name="demand"/>; otherwise the reason, naming the quota that binds.
    /// </summary>
    public string? Check(string tenant, ResourceTotals usage, ResourceTotals demand)
    {
        if (!_quotas.TryGetValue(tenant, out var quota))
        {
            return null;
        }

        var after = usage + demand;
        if (after.GpuMilli > quota.GpuMilli)
        {
            return Describe(tenant, "GPU", usage.GpuMilli, demand.GpuMilli, quota.GpuMilli, "milli-GPU");
        }

        if (after.CpuMillis > quota.CpuMillis)
        {
            return Describe(tenant, "CPU", usage.CpuMillis, demand.CpuMillis, quota.CpuMillis, "millicores");
        }

        return after.MemoryMib > quota.MemoryMib
            ? Describe(tenant, "memory", usage.MemoryMib, demand.MemoryMib, quota.MemoryMib, "MiB")
            : null;
    }

    private static string Describe(string tenant, string what, long used, long asked, long quota, string unit) =>
        string.Create(CultureInfo.InvariantCulture,
            $"tenant '{tenant}' {what} quota exceeded: holds {used} + asks {asked} > quota {quota} {unit}");
}
