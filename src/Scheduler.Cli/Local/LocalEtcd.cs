using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Scheduler.Cli.Local;

/// <summary>One etcd member on loopback with its own data folder and free ports, for benchmarks of the etcd store.</summary>
internal sealed class LocalEtcd : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    // etcd may take up to 9 s to answer SIGTERM (PITFALLS.md).
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    private LocalEtcd(LocalProcess process, string clientUrl, string dataDir)
    {
        Process = process;
        ClientUrl = clientUrl;
        DataDir = dataDir;
    }

    public LocalProcess Process { get; }

    /// <summary>http://127.0.0.1:PORT, for the master's --etcd.</summary>
    public string ClientUrl { get; }

    public string DataDir { get; }

    public static async Task<LocalEtcd> StartAsync(string directory, CancellationToken ct)
    {
        var binary = await EtcdBinary.EnsureAsync(ct);
        var data = Path.Combine(directory, "etcd");
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        var (client, peer) = FreePorts();
        var clientUrl = Url(client);
        var process = LocalProcess.Start(
            "etcd",
            binary,
            [
                "--name", "bench",
                "--data-dir", data,
                "--listen-client-urls", clientUrl,
                "--advertise-client-urls", clientUrl,
                "--listen-peer-urls", Url(peer),
                "--initial-advertise-peer-urls", Url(peer),
                "--initial-cluster", $"bench={Url(peer)}",
                "--logger", "zap",
                "--log-level", "warn",

                // As a production member should be: etcd keeps every old revision until compacted, so
                // without it the keys retention deletes still fill the database (bench memory).
                "--auto-compaction-mode", "periodic",
                "--auto-compaction-retention", "1m",
            ],
            Path.Combine(directory, "etcd.log"));
        var etcd = new LocalEtcd(process, clientUrl, data);
        try
        {
            await etcd.WaitHealthyAsync(ct);
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }

        return etcd;
    }

    public async ValueTask DisposeAsync()
    {
        await Process.StopAsync(StopGrace);
        await Process.DisposeAsync();
    }

    private async Task WaitHealthyAsync(CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(StartTimeout);
        var last = "no answer yet";
        while (true)
        {
            if (Process.HasExited)
            {
                throw new IOException($"etcd exited at start; see {Process.LogPath}");
            }

            try
            {
                last = await http.GetStringAsync(new Uri(ClientUrl + "/health"), timeout.Token);
                if (last.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                last = ex.Message;
            }

            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"etcd at {ClientUrl} was not healthy within {StartTimeout.TotalSeconds:F0} s ({last}); see {Process.LogPath}");
            }
        }
    }

    private static (int Client, int Peer) FreePorts()
    {
        using var a = new TcpListener(IPAddress.Loopback, 0);
        using var b = new TcpListener(IPAddress.Loopback, 0);
        a.Start();
        b.Start();
        return (((IPEndPoint)a.LocalEndpoint).Port, ((IPEndPoint)b.LocalEndpoint).Port);
    }

    private static string Url(int port) => "http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture);
}
