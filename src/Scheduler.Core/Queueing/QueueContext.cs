using Scheduler.Core.Fairness;

namespace Scheduler.Core.Queueing;

/// <summary>
/// What a queue policy may look at besides the waiting jobs: the time, the cluster's capacity and
/// what each tenant already holds (fair-share policies need the last two).
/// </summary>
public sealed record QueueContext(
    DateTimeOffset Now,
    ResourceTotals Capacity,
    IReadOnlyDictionary<string, ResourceTotals> TenantUsage)
{
    private static readonly Dictionary<string, ResourceTotals> NoUsage = new(StringComparer.Ordinal);

    /// <summary>A context with only a time: no capacity known and nothing held.</summary>
    public static QueueContext At(DateTimeOffset now) => new(now, ResourceTotals.Zero, NoUsage);

    /// <summary>What <paramref name="tenant"/> holds now.</summary>
    public ResourceTotals UsageOf(string tenant) => TenantUsage.GetValueOrDefault(tenant);
}
