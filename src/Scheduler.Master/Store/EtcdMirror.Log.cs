namespace Scheduler.Master.Store;

internal sealed partial class EtcdMirror
{
    [LoggerMessage(101, LogLevel.Information, "etcd mirror loaded {Keys} keys at revision {Revision}")]
    private partial void LogLoaded(int keys, long revision);

    [LoggerMessage(102, LogLevel.Warning, "etcd mirror watch on {Endpoint} failed at revision {Revision} ({Failures} in a row); watching again from the next revision")]
    private partial void LogWatchFailed(string endpoint, long revision, int failures, Exception exception);

    [LoggerMessage(103, LogLevel.Warning, "etcd compacted the revisions after {From} (compact revision {CompactRevision}, {Reason}); the mirror loads a snapshot again")]
    private partial void LogCompacted(long from, long compactRevision, string reason);

    [LoggerMessage(104, LogLevel.Warning, "etcd at {Endpoint} canceled the mirror's watch ({Reason}); watching again")]
    private partial void LogCanceled(string endpoint, string reason);
}
