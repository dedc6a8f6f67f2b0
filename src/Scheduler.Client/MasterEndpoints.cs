using Grpc.Net.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Client;

/// <summary>One reused HTTP/2 channel per master address, and the address calls currently go to.</summary>
internal sealed class MasterEndpoints : IAsyncDisposable, IDisposable
{
    private readonly Dictionary<string, MasterEndpoint> _endpoints = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<Uri> _known;
    private readonly TimeSpan _connectTimeout;
    private readonly int _maxReceiveBytes;
    private readonly int _maxSendBytes;
    private readonly Lock _lock = new();
    private int _current;

    public MasterEndpoints(IReadOnlyList<Uri> addresses, TimeSpan connectTimeout, int maxReceiveBytes = 16 * 1024 * 1024, int maxSendBytes = 4 * 1024 * 1024)
    {
        _known = [.. addresses];
        _connectTimeout = connectTimeout;
        _maxReceiveBytes = maxReceiveBytes;
        _maxSendBytes = maxSendBytes;
    }

    public MasterEndpoint Current
    {
        get
        {
            lock (_lock)
            {
                return Get(_known[_current]);
            }
        }
    }

    /// <summary>Every address tried or learnt so far, in order of first use.</summary>
    public IReadOnlyList<Uri> Known
    {
        get
        {
            lock (_lock)
            {
                return [.. _known];
            }
        }
    }

    /// <summary>Moves to the next configured or learnt address, wrapping around.</summary>
    public void Advance(MasterEndpoint failed)
    {
        lock (_lock)
        {
            // Only the first of several concurrent failures on the same address moves the cursor.
            if (SameAddress(_known[_current], failed.Address))
            {
                _current = (_current + 1) % _known.Count;
            }
        }
    }

    /// <summary>
    /// Moves past <paramref name="failed"/> to the next address that <paramref name="skip"/> does not
    /// rule out (a master this call found unreachable); to the plain next one when all are ruled out.
    /// </summary>
    public void Advance(MasterEndpoint failed, Func<Uri, bool> skip)
    {
        lock (_lock)
        {
            if (!SameAddress(_known[_current], failed.Address))
            {
                return;
            }

            for (var step = 1; step <= _known.Count; step++)
            {
                var candidate = (_current + step) % _known.Count;
                if (!skip(_known[candidate]) || step == _known.Count)
                {
                    _current = skip(_known[candidate]) ? (_current + 1) % _known.Count : candidate;
                    return;
                }
            }
        }
    }

    /// <summary>Points calls at the leader a standby named, adding it to the known addresses if new.</summary>
    public void FollowLeader(Uri leader)
    {
        lock (_lock)
        {
            var index = _known.FindIndex(k => SameAddress(k, leader));
            if (index < 0)
            {
                _known.Add(leader);
                index = _known.Count - 1;
            }

            _current = index;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var endpoint in TakeAll())
        {
            await endpoint.Channel.ShutdownAsync();
            endpoint.Channel.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var endpoint in TakeAll())
        {
            endpoint.Channel.Dispose();
        }
    }

    public static bool SameAddress(Uri a, Uri b) => Uri.Compare(a, b, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    private MasterEndpoint[] TakeAll()
    {
        lock (_lock)
        {
            MasterEndpoint[] endpoints = [.. _endpoints.Values];
            _endpoints.Clear();
            return endpoints;
        }
    }

    private MasterEndpoint Get(Uri address)
    {
        var key = address.GetComponents(UriComponents.SchemeAndServer, UriFormat.Unescaped);
        lock (_lock)
        {
            if (!_endpoints.TryGetValue(key, out var endpoint))
            {
                var channel = GrpcChannel.ForAddress(key, new GrpcChannelOptions
                {
                    HttpHandler = new SocketsHttpHandler
                    {
                        ConnectTimeout = _connectTimeout,
                        EnableMultipleHttp2Connections = true,
                        KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                    },
                    DisposeHttpClient = true,
                    MaxReceiveMessageSize = _maxReceiveBytes,
                    MaxSendMessageSize = _maxSendBytes,
                });
                endpoint = new MasterEndpoint(new Uri(key), channel, new Jobs.JobsClient(channel), new Admin.AdminClient(channel));
                _endpoints.Add(key, endpoint);
            }

            return endpoint;
        }
    }
}
