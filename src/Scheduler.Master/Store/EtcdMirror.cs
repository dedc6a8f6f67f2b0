using System.Collections.Immutable;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Mvccpb;

namespace Scheduler.Master.Store;

/// <summary>
/// An in-memory copy of every key under a prefix, kept current by one etcd watch, so a standby
/// master takes over without reading the whole store. It loads a snapshot at revision R, watches
/// from R+1 and, after any failure, watches again from the last applied revision + 1 (on the next
/// endpoint, after a bounded backoff); only a compacted revision makes it load a snapshot again.
/// The watch is our own gRPC stream: dotnet-etcd's watch wrappers do not resume after an etcd
/// restart (PITFALLS.md).
/// </summary>
internal sealed partial class EtcdMirror : IAsyncDisposable
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);

    private readonly string[] _endpoints;
    private readonly GrpcChannel?[] _channels;
    private readonly ByteString _prefix;
    private readonly ByteString _prefixEnd;
    private readonly Func<CancellationToken, Task<(List<KeyValue> Values, long Revision)>> _readSnapshot;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();

    // Written only by the run loop; readers take the whole view, so keys and revision always agree.
    private volatile MirrorView _view = MirrorView.Empty;
    private TaskCompletionSource _advanced = NewSignal();
    private int _endpoint;
    private Task? _run;

    /// <param name="endpoints">Client URLs with their scheme; the watch moves to the next one when a stream fails.</param>
    /// <param name="readSnapshot">Reads every key under the prefix at one revision and returns that revision.</param>
    public EtcdMirror(
        IReadOnlyList<string> endpoints,
        ByteString prefix,
        ByteString prefixEnd,
        Func<CancellationToken, Task<(List<KeyValue> Values, long Revision)>> readSnapshot,
        TimeProvider time,
        ILogger logger)
    {
        _endpoints = [.. endpoints];
        _channels = new GrpcChannel?[_endpoints.Length];
        _prefix = prefix;
        _prefixEnd = prefixEnd;
        _readSnapshot = readSnapshot;
        _time = time;
        _logger = logger;
    }

    /// <summary>The revision of the last change applied (or of the snapshot); 0 until the first snapshot is loaded.</summary>
    public long Revision => _view.Revision;

    /// <summary>Every key under the prefix as of <see cref="MirrorView.Revision"/>, ordered by key.</summary>
    public MirrorView View => _view;

    public void Start() => _run ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>Waits until the copy is newer than <paramref name="revision"/>; false when <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitForNewerAsync(long revision, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // The signal is read before the view: a view published after this read completes it.
        var advanced = Volatile.Read(ref _advanced).Task;
        if (_view.Revision > revision)
        {
            return true;
        }

        try
        {
            await advanced.WaitAsync(timeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
        }

        return _view.Revision > revision;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_run is not null)
        {
            // The loop catches its own failures; only cancellation can end it.
            await _run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        foreach (var channel in _channels)
        {
            channel?.Dispose();
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var reload = true;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (reload)
                {
                    await LoadAsync(cancellationToken);
                    reload = false;
                }

                var outcome = await WatchAsync(() => failures = 0, cancellationToken);
                reload = outcome == WatchEnd.Compacted;
                if (!reload)
                {
                    failures++;
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                failures++;
                LogWatchFailed(_endpoints[_endpoint], Revision, failures, ex);
                _endpoint = (_endpoint + 1) % _endpoints.Length;
            }

            if (failures > 0)
            {
                try
                {
                    await Task.Delay(Backoff(failures), _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var (values, revision) = await _readSnapshot(cancellationToken);
        var builder = ImmutableSortedDictionary.CreateBuilder<string, KeyValue>(StringComparer.Ordinal);
        foreach (var kv in values)
        {
            builder[kv.Key.ToStringUtf8()] = kv;
        }

        Publish(new MirrorView(builder.ToImmutable(), revision));
        LogLoaded(builder.Count, revision);
    }

    /// <summary>One watch stream from the last applied revision + 1, until it fails, ends or reports compaction.</summary>
    private async Task<WatchEnd> WatchAsync(Action answered, CancellationToken cancellationToken)
    {
        var client = new Watch.WatchClient(ChannelFor(_endpoint));
        using var streamStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Without a leader a member serves no new revisions: "hasleader" makes it end the stream instead of going quiet.
        using var call = client.Watch(new Metadata { { "hasleader", "true" } }, cancellationToken: streamStop.Token);
        var from = Revision + 1;
        await call.RequestStream.WriteAsync(
            new WatchRequest { CreateRequest = new WatchCreateRequest { Key = _prefix, RangeEnd = _prefixEnd, StartRevision = from, ProgressNotify = true } },
            cancellationToken);
        try
        {
            await foreach (var response in call.ResponseStream.ReadAllAsync(streamStop.Token))
            {
                answered();
                if (response.CompactRevision > 0 || (response.Created && response.Canceled))
                {
                    LogCompacted(from, response.CompactRevision, response.CancelReason);
                    return WatchEnd.Compacted;
                }

                if (response.Canceled)
                {
                    LogCanceled(_endpoints[_endpoint], response.CancelReason);
                    return WatchEnd.Ended;
                }

                // The created response's header is the current revision, not how far events were sent.
                if (!response.Created)
                {
                    Apply(response);
                }
            }

            return WatchEnd.Ended;
        }
        finally
        {
            await streamStop.CancelAsync();
        }
    }

    private void Apply(WatchResponse response)
    {
        var view = _view;
        if (response.Events.Count == 0)
        {
            // A progress notification (asked for at create, sent only to a watcher that has caught
            // up): every event up to the header's revision has been sent. Progress requests are not
            // used: etcd before 3.4.24 and 3.5.8 may answer them ahead of events still to be sent.
            if (response.Header.Revision > view.Revision)
            {
                Publish(view with { Revision = response.Header.Revision });
            }

            return;
        }

        // etcd never splits one revision's events across responses (no fragmenting requested), so
        // after a whole response the copy is at the last event's revision. The header can be ahead
        // of it when etcd sends a long backlog in parts.
        var values = view.Values.ToBuilder();
        var revision = view.Revision;
        foreach (var change in response.Events)
        {
            // One transaction's events share a revision, so only revisions already in the view are skipped.
            if (change.Kv.ModRevision <= view.Revision)
            {
                continue;
            }

            var key = change.Kv.Key.ToStringUtf8();
            if (change.Type == Event.Types.EventType.Delete)
            {
                values.Remove(key);
            }
            else
            {
                values[key] = change.Kv;
            }

            revision = change.Kv.ModRevision;
        }

        Publish(new MirrorView(values.ToImmutable(), revision));
    }

    private void Publish(MirrorView view)
    {
        _view = view;
        Interlocked.Exchange(ref _advanced, NewSignal()).TrySetResult();
    }

    private GrpcChannel ChannelFor(int index) =>
        _channels[index] ??= GrpcChannel.ForAddress(_endpoints[index], new GrpcChannelOptions
        {
            // A backlog of many large transactions comes in one response.
            MaxReceiveMessageSize = null,
            HttpHandler = new SocketsHttpHandler
            {
                // A silent network would otherwise leave the stream waiting forever.
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                ConnectTimeout = TimeSpan.FromSeconds(5),
            },
        });

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, MinBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 10))));

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private enum WatchEnd
    {
        Ended,
        Compacted,
    }
}

/// <summary>The mirrored keys at one revision; never changed once handed out.</summary>
internal sealed record MirrorView(ImmutableSortedDictionary<string, KeyValue> Values, long Revision)
{
    public static readonly MirrorView Empty = new(ImmutableSortedDictionary.Create<string, KeyValue>(StringComparer.Ordinal), 0);
}
