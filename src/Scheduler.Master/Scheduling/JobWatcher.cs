using System.Threading.Channels;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// One Watch call, as the loop sees it: a doorbell the loop rings when a job the watch follows changes.
/// The loop never waits and never copies a change per watcher; the watch stream reads the changes from
/// the <see cref="JobFeed"/> at its own pace. One pending ring is enough, so the doorbell holds one.
/// </summary>
internal sealed class JobWatcher
{
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.DropWrite });

    public JobWatcher(string? jobId) => JobId = string.IsNullOrEmpty(jobId) ? null : jobId;

    public string? JobId { get; }

    public bool Matches(string jobId) => JobId is null || string.Equals(JobId, jobId, StringComparison.Ordinal);

    /// <summary>Something may have changed. Loop only; never blocks.</summary>
    public void Ring() => _doorbell.Writer.TryWrite(true);

    /// <summary>The loop is stopping: no more rings will come.</summary>
    public void End() => _doorbell.Writer.TryComplete();

    /// <summary>Waits for a ring; false once the watcher was ended.</summary>
    public async ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
    {
        if (!await _doorbell.Reader.WaitToReadAsync(cancellationToken))
        {
            return false;
        }

        _doorbell.Reader.TryRead(out _);
        return true;
    }
}
