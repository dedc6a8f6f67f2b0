namespace Scheduler.Core.Queueing;

/// <summary>Decides in which order waiting jobs are offered to placement.</summary>
public interface IQueuePolicy
{
    /// <summary>Name used in configuration (see <see cref="QueuePolicyNames"/>).</summary>
    string Name { get; }

    /// <summary>The jobs in the order they should be tried at <paramref name="now"/>.</summary>
    IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now);

    /// <summary>
    /// The jobs in the order they should be tried, given the cluster's capacity and usage; policies
    /// that need only the time keep the default, which calls the overload taking it.
    /// </summary>
    IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, QueueContext context) => Order(jobs, context.Now);
}
