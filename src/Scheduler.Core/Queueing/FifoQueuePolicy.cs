namespace Scheduler.Core.Queueing;

/// <summary>
/// Arrival order, nothing else: the easiest order to explain to a user, and with backfill it
/// still keeps the cluster busy behind a large job at the head.
/// </summary>
internal sealed class FifoQueuePolicy : IQueuePolicy
{
    public string Name => QueuePolicyNames.Fifo;

    public IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now)
    {
        var ordered = jobs.ToArray();
        Array.Sort(ordered, static (a, b) => a.Sequence.CompareTo(b.Sequence));
        return ordered;
    }
}
