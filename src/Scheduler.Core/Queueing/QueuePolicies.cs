using Scheduler.Core.Fairness;

namespace Scheduler.Core.Queueing;

/// <summary>Creates queue policies by their configured name.</summary>
public static class QueuePolicies
{
    /// <summary>The policy used when configuration names none.</summary>
    public const string Default = QueuePolicyNames.Priority;

    /// <summary>Every known policy name.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        QueuePolicyNames.Priority,
        QueuePolicyNames.Fifo,
        QueuePolicyNames.ShortestJobFirst,
        QueuePolicyNames.DominantResourceFairness,
    ];

    /// <summary>
    /// The policy called <paramref name="name"/>; throws <see cref="ArgumentException"/> for an unknown
    /// name. <paramref name="options"/> tunes aging and tenant weights; defaults apply when null.
    /// </summary>
    public static IQueuePolicy Create(string name, QueuePolicyOptions? options = null)
    {
        options ??= new QueuePolicyOptions();
        return name switch
        {
            QueuePolicyNames.Priority => new PriorityAgingQueuePolicy(options.AgingInterval, options.AgingStep, options.MaxAgingBoost),
            QueuePolicyNames.Fifo => new FifoQueuePolicy(),
            QueuePolicyNames.ShortestJobFirst => new ShortestJobFirstQueuePolicy(),
            QueuePolicyNames.DominantResourceFairness => new DominantResourceFairnessPolicy(options.TenantWeights),
            _ => throw new ArgumentException(
                $"Unknown queue policy '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
        };
    }
}
