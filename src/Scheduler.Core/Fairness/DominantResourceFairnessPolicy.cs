using Scheduler.Core.Queueing;

namespace Scheduler.Core.Fairness;

/// <summary>
/// Dominant resource fairness between tenants (Ghodsi et al., NSDI'11): the tenant whose largest
/// share of any cluster resource is smallest goes next. Within a tenant, higher priority first,
/// then arrival order. The order is precomputed as if every job were placed in turn (progressive
/// filling), so one sort gives the same interleaving a pick-one-at-a-time loop would.
/// </summary>
internal sealed class DominantResourceFairnessPolicy : IQueuePolicy
{
    private readonly IReadOnlyDictionary<string, double> _weights;

    public DominantResourceFairnessPolicy(IReadOnlyDictionary<string, double>? weights = null) =>
        _weights = weights ?? new Dictionary<string, double>(StringComparer.Ordinal);

    public string Name => QueuePolicyNames.DominantResourceFairness;

    public IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now) =>
        Order(jobs, QueueContext.At(now));

    public IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, QueueContext context)
    {
        // Without a known cluster, measure shares against the demand in view: the order stays fair
        // between tenants even if the absolute shares mean little.
        var capacity = context.Capacity;
        if (capacity == ResourceTotals.Zero)
        {
            foreach (var job in jobs)
            {
                capacity += ResourceTotals.Of(job.Demand.Resources);
            }
        }

        var keyed = new List<(double Share, int Rank, QueuedJob Job)>(jobs.Count);
        foreach (var tenantJobs in jobs.GroupBy(j => j.Tenant, StringComparer.Ordinal))
        {
            var weight = _weights.GetValueOrDefault(tenantJobs.Key, 1.0);
            if (weight <= 0)
            {
                weight = 1.0;
            }

            var usage = context.UsageOf(tenantJobs.Key);
            var rank = 0;
            foreach (var job in tenantJobs.OrderByDescending(j => j.Priority).ThenBy(j => j.Sequence))
            {
                keyed.Add((usage.DominantShare(capacity) / weight, rank++, job));
                usage += ResourceTotals.Of(job.Demand.Resources);
            }
        }

        keyed.Sort(static (a, b) =>
        {
            var c = a.Share.CompareTo(b.Share);
            if (c == 0)
            {
                c = a.Rank.CompareTo(b.Rank);
            }

            return c != 0 ? c : a.Job.Sequence.CompareTo(b.Job.Sequence);
        });
        return keyed.ConvertAll(k => k.Job);
    }
}
