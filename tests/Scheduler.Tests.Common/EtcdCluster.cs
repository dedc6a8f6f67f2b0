using System.Net;
using System.Net.Sockets;

namespace Scheduler.Tests.Common;

/// <summary>
/// Real etcd members (one or three) on free loopback ports, each with its own data folder under
/// one temporary root and its own log. Members are stopped by PID (SIGTERM, a deadline, SIGKILL)
/// when disposed, and the root is deleted. Elections are fast (50 ms heartbeat, 250 ms election
/// timeout) so tests that kill a member do not wait seconds.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    private readonly string _initialCluster;
    private readonly string _token;
    private IReadOnlyList<string> _extraArgs = [];

    private EtcdCluster(string root, IReadOnlyList<EtcdMember> members, string token)
    {
        Root = root;
        Members = members;
        _token = token;
        _initialCluster = string.Join(',', members.Select(m => $"{m.Name}={m.PeerUrl}"));
    }

    public string Root { get; }

    public IReadOnlyList<EtcdMember> Members { get; }

    /// <summary>Every member's client URL, comma-separated, as the store and masters take them.</summary>
    public string Endpoints => string.Join(',', Members.Select(m => m.ClientUrl));

    /// <summary>
    /// Starts <paramref name="size"/> members and waits until each reports healthy. Without an
    /// etcd binary on PATH the test fails under CI and is ignored elsewhere, naming the package.
    /// </summary>
    public static async Task<EtcdCluster> StartAsync(string name, int size = 1, IReadOnlyList<string>? extraArgs = null)
    {
        RequireEtcd();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(name, size, extraArgs ?? []);
            }
            catch (EtcdExitedException) when (attempt < 3)
            {
                // Another process took a port between our probe and etcd's bind: try fresh ports.
            }
        }
    }

    private static async Task<EtcdCluster> TryStartAsync(string name, int size, IReadOnlyList<string> extraArgs)
    {
        var root = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"etcd-{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 17, 60)]);
        Directory.CreateDirectory(root);
        var ports = FreePorts(2 * size);
        var members = Enumerable.Range(0, size)
            .Select(i => new EtcdMember($"m{i}", Path.Combine(root, $"m{i}"), ports[2 * i], ports[(2 * i) + 1]))
            .ToList();
        var cluster = new EtcdCluster(root, members, Guid.NewGuid().ToString("N")) { _extraArgs = extraArgs };
        try
        {
            foreach (var member in members)
            {
                cluster.Launch(member);
            }

            foreach (var member in members)
            {
                await WaitHealthyAsync(member, StartTimeout);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>Starts a stopped member again on its ports and data, and waits until it is healthy.</summary>
    public async Task RestartAsync(EtcdMember member)
    {
        if (member.Process is null)
        {
            Launch(member);
        }

        await WaitHealthyAsync(member, StartTimeout);
    }

    /// <summary>The members' logs, for assertion messages.</summary>
    public string ReadLogs() =>
        string.Join(Environment.NewLine, Members.Select(m => $"--- etcd {m.Name} ---{Environment.NewLine}{ReadTail(m.LogPath)}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            await member.StopAsync(StopGrace);
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Launch(EtcdMember member)
    {
        var args = new[]
        {
            "--name", member.Name,
            "--data-dir", member.DataDir,
            "--listen-client-urls", member.ClientUrl,
            "--advertise-client-urls", member.ClientUrl,
            "--listen-peer-urls", member.PeerUrl,
            "--initial-advertise-peer-urls", member.PeerUrl,
            "--initial-cluster", _initialCluster,
            "--initial-cluster-token", _token,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "50",
            "--election-timeout", "250",
            "--logger", "zap",
            "--log-level", "warn",
        };
        member.Process = ManagedProcess.Start($"etcd {member.Name}", "etcd", [.. args, .. _extraArgs], member.LogPath);
    }

    private static async Task WaitHealthyAsync(EtcdMember member, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var deadline = DateTime.UtcNow + timeout;
        string last = "no answer yet";
        while (DateTime.UtcNow < deadline)
        {
            if (member.Process is not { HasExited: false })
            {
                throw new EtcdExitedException($"etcd {member.Name} exited while starting:{Environment.NewLine}{ReadTail(member.LogPath)}");
            }

            try
            {
                last = await http.GetStringAsync(new Uri(member.ClientUrl + "/health"));
                if (last.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"etcd {member.Name} at {member.ClientUrl} was not healthy within {timeout.TotalSeconds:0} s ({last}):{Environment.NewLine}{ReadTail(member.LogPath)}");
    }

    private static void RequireEtcd()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, "etcd")));
        if (onPath)
        {
            return;
        }

        const string Why = "etcd is not on PATH: install the Debian package etcd-server (./build.sh test installs it when run as root)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(Why);
        }

        Assert.Ignore(Why);
    }

    /// <summary>Distinct free loopback ports: every listener stays open until all are chosen.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            listeners.ForEach(l => l.Dispose());
        }
    }

    private static string ReadTail(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var text = new StreamReader(stream).ReadToEnd();
            return text.Length > 4000 ? text[^4000..] : text;
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private sealed class EtcdExitedException(string message) : Exception(message);
}
