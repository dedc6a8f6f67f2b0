namespace Scheduler.Master;

/// <summary>One tenant's ceiling; 0 (unset) means no limit on that resource.</summary>
internal sealed class TenantQuota
{
    public long CpuMillis { get; set; }

    public long MemoryMib { get; set; }

    public long GpuMilli { get; set; }

    public Core.Fairness.ResourceTotals ToTotals() => new(
        CpuMillis > 0 ? CpuMillis : long.MaxValue,
        MemoryMib > 0 ? MemoryMib : long.MaxValue,
        GpuMilli > 0 ? GpuMilli : long.MaxValue);
}
