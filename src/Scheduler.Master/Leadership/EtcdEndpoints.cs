using Grpc.Net.Client;

namespace Scheduler.Master.Leadership;

/// <summary>
/// One channel per etcd member, used in turn: a call that fails moves on to the next member. The
/// election keeps its own channels (not the store's client) for its campaign, grant, publish and
/// revoke calls, so they are never queued behind store traffic and it controls exactly when it gives
/// up. Renewals do not use them: <see cref="LeaseRenewer"/> makes them from the lease's own thread.
/// </summary>
internal sealed class EtcdEndpoints : IDisposable
{
    private readonly GrpcChannel[] _channels;
    private int _current;

    public EtcdEndpoints(string endpoints)
    {
        Urls = endpoints.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (Urls.Count == 0)
        {
            throw new ArgumentException("no etcd endpoint given", nameof(endpoints));
        }

        _channels = [.. Urls.Select(url => GrpcChannel.ForAddress(url, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(1),
                KeepAlivePingDelay = TimeSpan.FromSeconds(2),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(2),
                EnableMultipleHttp2Connections = true,
            },
        }))];
    }

    public IReadOnlyList<string> Urls { get; }

    public GrpcChannel Current => _channels[Volatile.Read(ref _current) % _channels.Length];

    /// <summary>Moves on to the next member after a failure.</summary>
    public void Rotate() => Interlocked.Increment(ref _current);

    public void Dispose()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
    }
}
