using Scheduler.Core.Fairness;
using Scheduler.Core.Preemption;

namespace Scheduler.Core.Queueing;

/// <summary>What a scheduling cycle does besides placing jobs in policy order.</summary>
public sealed record SchedulingCycleOptions
{
    /// <summary>
    /// EASY backfill: the first job that fits nowhere gets a reservation, and later jobs start only
    /// if they do not delay it. Off, every job that fits starts, which can starve large jobs.
    /// </summary>
    public bool Backfill { get; init; } = true;

    /// <summary>Per-tenant quotas; a job that would exceed its tenant's waits with the reason.</summary>
    public TenantQuotas Quotas { get; init; } = TenantQuotas.None;

    /// <summary>Preemption rules; null disables preemption.</summary>
    public PreemptionOptions? Preemption { get; init; }
}
