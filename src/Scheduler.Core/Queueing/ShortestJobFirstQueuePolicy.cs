namespace Scheduler.Core.Queueing;

/// <summary>
/// Shortest declared runtime first, which minimises mean waiting time when estimates are honest.
/// Jobs that declare nothing go last (in arrival order) so that declaring is never a penalty.
/// </summary>
internal sealed class ShortestJobFirstQueuePolicy : IQueuePolicy
{
    public string Name => QueuePolicyNames.ShortestJobFirst;

    public IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now)
    {
        var ordered = jobs.ToArray();
        Array.Sort(ordered, static (a, b) =>
        {
            var c = (a.RuntimeEstimate ?? TimeSpan.MaxValue).CompareTo(b.RuntimeEstimate ?? TimeSpan.MaxValue);
            return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
        });
        return ordered;
    }
}
