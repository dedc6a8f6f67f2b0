namespace Scheduler.Core.Queueing;

/// <summary>Settings the queue policies read; each policy ignores what it does not use.</summary>
public sealed record QueuePolicyOptions
{
    /// <summary>Waiting time that earns one aging step (priority policy); zero disables aging.</summary>
    public TimeSpan AgingInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Priority points per aging interval (priority policy).</summary>
    public int AgingStep { get; init; } = 10;

    /// <summary>Cap on what aging adds (priority policy).</summary>
    public int MaxAgingBoost { get; init; } = 1000;

    /// <summary>Relative fair-share weights by tenant (DRF); tenants not named weigh 1.</summary>
    public IReadOnlyDictionary<string, double>? TenantWeights { get; init; }
}
