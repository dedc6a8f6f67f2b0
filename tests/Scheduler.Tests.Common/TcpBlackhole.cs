using System.Net;
using System.Net.Sockets;

namespace Scheduler.Tests.Common;

/// <summary>
/// A loopback TCP relay to a target that can be cut like a network partition: once cut, bytes stop
/// flowing both ways and new connections are accepted but never answered. Unlike a killed process
/// (whose port refuses connections at once), nothing tells either side what happened: they find out
/// only by their own timeouts.
/// </summary>
public sealed class TcpBlackhole : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _clients = [];
    private readonly Task _accepting;
    private readonly Lock _lock = new();
    private volatile bool _cut;

    public TcpBlackhole(Uri target)
    {
        Target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public Uri Target { get; }

    public string Url => $"{Target.Scheme}://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public void Cut() => _cut = true;

    /// <summary>Ends the partition for new connections (those opened while cut stay dead, as after a real one).</summary>
    public void Heal()
    {
        lock (_lock)
        {
            // Connections from the cut stay silent forever; close them so both sides notice and reconnect.
            _clients.ForEach(c => c.Dispose());
            _clients.Clear();
        }

        _cut = false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_lock)
        {
            _clients.ForEach(c => c.Dispose());
        }

        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            lock (_lock)
            {
                _clients.Add(inbound);
            }

            if (_cut)
            {
                continue;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(Target.Host, Target.Port, _stop.Token);
            }
            catch (SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_lock)
            {
                _clients.Add(outbound);
            }

            _ = PumpAsync(inbound.GetStream(), outbound.GetStream());
            _ = PumpAsync(outbound.GetStream(), inbound.GetStream());
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                // Cut: swallow everything, and never close (a partition sends no FIN).
                if (!_cut)
                {
                    await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }
}
