namespace Scheduler.Core.Queueing;

/// <summary>Decides in which order waiting jobs are offered to placement.</summary>
public interface IQueuePolicy
{
    /// <summary>Name used in configuration.</summary>
    string Name { get; }

    /// <summary>The jobs in the order they should be tried at <paramref name="now"/>.</summary>
    IReadOnlyList<QueuedJob> Order(IReadOnlyCollection<QueuedJob> jobs, DateTimeOffset now);
}
