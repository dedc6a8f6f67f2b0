namespace Scheduler.Core.Queueing;

/// <summary>
/// Higher priority first, FIFO within a priority, and every <see cref="AgingInterval"/> spent
/// waiting raises a job's effective priority by <see cref="AgingStep"/>: a steady stream of
/// high-priority work can delay a low-priority job, but never starve it.
/// </summary>
public sealed class PriorityAgingQueuePolicy : IQueuePolicy
{
    /// <summary>Configuration name.</summary>
    public const string PolicyName = QueuePolicyNames.Priority;

    /// <summary>Creates the policy; a zero <paramref name="agingInterval"/> disables aging.</summary>
    public PriorityAgingQueuePolicy(TimeSpan agingInterval, int agingStep = 10, int maxBoost = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(agingInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(agingStep);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBoost);
        AgingInterval = agingInterval;
        AgingStep = agingStep;
        MaxBoost = maxBoost;
    }

    /// <inheritdoc />
    public string Name => PolicyName;

    /// <summary>Waiting time that earns one aging step.</summary>
    public TimeSpan AgingInterval { get; }

    /// <summary>Priority points per aging interval.</summary>
    public int AgingStep { get; }

    /// <summary>Cap on what aging adds.</summary>
    public int MaxBoost { get; }

    /// <summary>The priority <paramref name="job"/> competes with at <paramref name="now"/>.</summary>
    public long EffectivePriority(QueuedJob job, DateTimeOffset now)
    {
        if (AgingInterval == TimeSpan.Zero || now <= job.EnqueuedAt)
        {
            return job.Priority;
        }

        // Capping the steps first keeps the product from overflowing after a very long wait.
        var steps = Math.Min((now - job.EnqueuedAt).Ticks / AgingInterval.Ticks, MaxBoost);
        return job.Priority + Math.Min(steps * AgingStep, MaxBoost);
    }

    /// <inheritdoc />
    public IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now)
    {
        var keyed = new (long Priority, QueuedJob Job)[jobs.Count];
        var i = 0;
        foreach (var job in jobs)
        {
            keyed[i++] = (EffectivePriority(job, now), job);
        }

        Array.Sort(keyed, static (a, b) =>
        {
            var c = b.Priority.CompareTo(a.Priority);
            return c != 0 ? c : a.Job.Sequence.CompareTo(b.Job.Sequence);
        });

        return Array.ConvertAll(keyed, k => k.Job);
    }
}
