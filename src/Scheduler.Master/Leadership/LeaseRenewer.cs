using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Scheduler.Master.Leadership;

/// <summary>
/// Renews an etcd lease with blocking HTTP/1.1 calls to etcd's JSON gateway (<c>POST /v3/lease/keepalive</c>,
/// served on the client URL beside gRPC), made on the calling thread. Unlike a gRPC keep-alive stream,
/// whose responses are read and whose timers fire on the thread pool, nothing here waits for a pool
/// thread: connect, send and receive are synchronous socket calls bounded by socket timeouts. A master
/// whose pool is backed up (thousands of queued work items under 10,000 worker streams) still renews
/// its lease from its own thread.
/// </summary>
internal sealed class LeaseRenewer : IDisposable
{
    private readonly IReadOnlyList<Uri> _urls;
    private readonly HttpClient _http;
    private int _current;

    /// <param name="urls">etcd client URLs (http or https).</param>
    /// <param name="timeout">Bound of each connect, send and receive: a member that does not answer within it is left for the next.</param>
    public LeaseRenewer(IReadOnlyList<string> urls, TimeSpan timeout)
    {
        _urls = [.. urls.Select(u => new Uri(u.TrimEnd('/') + "/v3/lease/keepalive"))];
        var ms = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectCallback = (context, _) => ValueTask.FromResult<Stream>(Connect(context.DnsEndPoint, ms)),
        })
        {
            // The HttpClient's own timeout fires from a timer on the thread pool: the sockets' timeouts bound the calls instead.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>The member asked now.</summary>
    public Uri Current => _urls[Volatile.Read(ref _current) % _urls.Count];

    /// <summary>
    /// Renews <paramref name="leaseId"/> once, blocking: its remaining TTL as etcd granted it, 0 when
    /// etcd no longer has the lease (expired or revoked). Throws <see cref="HttpRequestException"/> or
    /// <see cref="IOException"/> when the member did not answer; the next call asks the next member.
    /// </summary>
    public long Renew(long leaseId)
    {
        var url = Current;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes("{\"ID\":" + leaseId.ToString(CultureInfo.InvariantCulture) + "}")),
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = _http.Send(request, HttpCompletionOption.ResponseContentRead);
            using var body = response.Content.ReadAsStream();
            if (!response.IsSuccessStatusCode)
            {
                // Its status first: a member without the JSON gateway answers 404 with plain text.
                using var reader = new StreamReader(body);
                throw new HttpRequestException($"etcd at {url} answered {(int)response.StatusCode}: {reader.ReadToEnd().Trim()}", null, response.StatusCode);
            }

            using var document = JsonDocument.Parse(body);
            return ParseTtl(document.RootElement);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException or JsonException or TaskCanceledException)
        {
            Interlocked.Increment(ref _current);
            throw ex as HttpRequestException ?? new HttpRequestException($"etcd at {url} did not renew the lease: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// True when <paramref name="error"/> says the member serves no JSON gateway at all (etcd run with
    /// <c>--enable-grpc-gateway=false</c>, or a version that serves it elsewhere), as opposed to not answering.
    /// </summary>
    public static bool NoGateway(HttpRequestException error) =>
        error.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented;

    /// <summary>The TTL of a keep-alive answer (<c>{"result":{"ID":"…","TTL":"2"}}</c>); absent means 0, a lease etcd no longer has.</summary>
    internal static long ParseTtl(JsonElement root)
    {
        var result = root.TryGetProperty("result", out var r) ? r : root;
        if (root.TryGetProperty("error", out var error))
        {
            throw new HttpRequestException($"etcd refused the keep-alive: {error}");
        }

        if (!result.TryGetProperty("TTL", out var ttl))
        {
            return 0;
        }

        return ttl.ValueKind == JsonValueKind.String
            ? long.Parse(ttl.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
            : ttl.GetInt64();
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A connected socket in blocking mode, its connect bounded by a poll and its reads and writes by socket timeouts.</summary>
    private static NetworkStream Connect(DnsEndPoint endpoint, int timeoutMs)
    {
        var addresses = IPAddress.TryParse(endpoint.Host, out var ip) ? [ip] : Dns.GetHostAddresses(endpoint.Host);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Blocking = false;
                try
                {
                    socket.Connect(address, endpoint.Port);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                    if (!socket.Poll(TimeSpan.FromMilliseconds(timeoutMs), SelectMode.SelectWrite))
                    {
                        throw new SocketException((int)SocketError.TimedOut);
                    }

                    var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                    if (error != SocketError.Success)
                    {
                        throw new SocketException((int)error);
                    }
                }

                socket.Blocking = true;
                socket.SendTimeout = timeoutMs;
                socket.ReceiveTimeout = timeoutMs;
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }
}
