namespace Scheduler.Worker.Link;

/// <summary>
/// Commands a stream's read loop handed on without waiting for them: starts queued behind the one
/// process launcher that every node of a worker process shares. The loop reads on (a heartbeat's
/// acknowledgement must not wait behind another node's agents), and the session's end waits for them.
/// </summary>
internal sealed class InFlightStarts
{
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _tasks = [];

    /// <summary>Starts not yet through the launcher.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _tasks.Count;
            }
        }
    }

    /// <summary>Follows <paramref name="task"/> until it ends; <paramref name="onFault"/> hears an unexpected failure.</summary>
    public void Track(Task task, Action<Exception> onFault)
    {
        lock (_lock)
        {
            _tasks.Add(task);
        }

        task.ContinueWith(
            ended =>
            {
                lock (_lock)
                {
                    _tasks.Remove(ended);
                }

                if (ended.Exception?.GetBaseException() is { } error and not OperationCanceledException)
                {
                    onFault(error);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Completes once every start tracked now has ended, however it ended.</summary>
    public Task WhenAllAsync()
    {
        Task[] tasks;
        lock (_lock)
        {
            tasks = [.. _tasks];
        }

        return Task.WhenAll(tasks).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
