using System.Threading.Channels;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// One Watch call. The loop pushes without ever waiting: a watcher that falls a whole backlog
/// behind is ended with an error so its client re-watches, instead of slowing the scheduler.
/// </summary>
internal sealed class JobWatcher
{
    private const int Backlog = 4096;
    private readonly Channel<Job> _events = Channel.CreateBounded<Job>(
        new BoundedChannelOptions(Backlog) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    public JobWatcher(string? jobId) => JobId = string.IsNullOrEmpty(jobId) ? null : jobId;

    public string? JobId { get; }

    public ChannelReader<Job> Events => _events.Reader;

    public bool Matches(string jobId) => JobId is null || string.Equals(JobId, jobId, StringComparison.Ordinal);

    /// <summary>False when the watcher was ended for falling behind.</summary>
    public bool Push(Job job)
    {
        if (_events.Writer.TryWrite(job))
        {
            return true;
        }

        _events.Writer.TryComplete(new InvalidOperationException("watch fell too far behind; watch again"));
        return false;
    }

    public void End() => _events.Writer.TryComplete();
}
