using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Security;
using Scheduler.Master.Store;

namespace Scheduler.Master.Services;

/// <summary>
/// One Watch call: the only writer of its response stream. Replays from an immutable snapshot of the history
/// and then follows the <see cref="JobFeed"/>, so the scheduling loop never waits for it and never queues
/// per-watch copies; a client that falls out of the feed's window is resynchronised, not failed.
/// </summary>
internal sealed class WatchStream
{
    /// <summary>How many finished jobs a watch of every job starts with, beside every unfinished one.</summary>
    public const int FinishedTail = 100;

    private readonly JobFeed _feed;
    private readonly JobWatcher _watcher;
    private readonly IServerStreamWriter<JobEvent> _stream;
    private readonly List<JobFeed.Change> _batch = [];
    private readonly TenantScope _scope;

    public WatchStream(JobFeed feed, JobWatcher watcher, IServerStreamWriter<JobEvent> stream, TenantScope scope = default)
    {
        _scope = scope;
        _feed = feed;
        _watcher = watcher;
        _stream = stream;
    }

    /// <summary>Streams until the client goes away (cancelled) or the loop ends the watcher (UNAVAILABLE).</summary>
    public async Task RunAsync(ResumeToken? resume, bool changesOnly, CancellationToken cancellationToken)
    {
        var state = _feed.Current;
        var cursor = resume is { } token && token.Epoch == state.Epoch && _feed.Retains(token.Version)
            ? token.Version
            : await SyncAsync(state, changesOnly, cancellationToken);
        while (true)
        {
            state = _feed.Current;
            if (state.Version > cursor)
            {
                _batch.Clear();
                cursor = _feed.TryRead(cursor, state.Version, _batch)
                    ? await SendChangesAsync(state.Epoch, cancellationToken)
                    : await SyncAsync(_feed.Current, changesOnly: false, cancellationToken);
                continue;
            }

            if (!await _watcher.WaitAsync(cancellationToken))
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the master is shutting down; watch again (with the last resume_token)"));
            }
        }
    }

    private async Task<long> SendChangesAsync(long epoch, CancellationToken cancellationToken)
    {
        foreach (var change in _batch)
        {
            if (_watcher.Matches(change.Job.Id) && _scope.Sees(change.Job))
            {
                await WriteAsync(change.Job, JobEventType.Changed, new ResumeToken(epoch, change.Version), cancellationToken);
            }
        }

        return _batch[^1].Version;
    }

    // The current state as of one version, then SYNCED with the token that continues after it.
    private async Task<long> SyncAsync(JobFeedState state, bool changesOnly, CancellationToken cancellationToken)
    {
        if (!changesOnly)
        {
            IEnumerable<JobRecord> current = _watcher.JobId is { } id
                ? state.History.TryGet(id, out var only) ? [only] : []
                : state.History.Current(FinishedTail);
            foreach (var job in current.Where(_scope.Sees))
            {
                await WriteAsync(job, JobEventType.Current, null, cancellationToken);
            }
        }

        await WriteAsync(null, JobEventType.Synced, new ResumeToken(state.Epoch, state.Version), cancellationToken);
        return state.Version;
    }

    private Task WriteAsync(JobRecord? job, JobEventType type, ResumeToken? token, CancellationToken cancellationToken)
    {
        var e = new JobEvent { Type = type, ResumeToken = token?.Encode() ?? "" };
        if (job is not null)
        {
            e.Job = ProtoMapping.ToProto(job);
        }

        return _stream.WriteAsync(e, cancellationToken);
    }
}
