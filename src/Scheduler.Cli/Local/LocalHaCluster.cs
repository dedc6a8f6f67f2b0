using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Scheduler.Cli.Local;

/// <summary>
/// A highly available cluster on loopback: three etcd members, three masters electing a leader
/// through them, and workers that know every master. Each process has its own ports, data folder
/// and log in the state folder; `cluster.json` there lists them with their PIDs. Stopped by PID:
/// workers, then masters, then etcd (SIGTERM, a deadline, SIGKILL).
/// </summary>
internal sealed class LocalHaCluster : IAsyncDisposable
{
    public const int Members = 3;

    private static readonly TimeSpan EtcdStartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MasterStartTimeout = TimeSpan.FromSeconds(60);

    // etcd may take up to 9 s to answer SIGTERM; a worker needs its agents' grace and the acknowledgements.
    private static readonly TimeSpan EtcdStopGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HostStopGrace = TimeSpan.FromSeconds(20);

    private readonly List<(ClusterProcess Info, LocalProcess Process)> _etcd = [];
    private readonly List<(ClusterProcess Info, LocalProcess Process)> _masters = [];
    private readonly List<(ClusterProcess Info, LocalProcess Process)> _workers = [];

    private LocalHaCluster(string directory, LocalCertificates? certificates)
    {
        Directory = directory;
        Certificates = certificates;
    }

    public string Directory { get; }

    /// <summary>The cluster's CA and certificates (DIR/certs); null when it runs --insecure.</summary>
    public LocalCertificates? Certificates { get; }

    /// <summary>Client settings for every master: their URLs, and with TLS the CA and schedctl's client certificate.</summary>
    public Scheduler.Client.SchedulerClientOptions ClientOptions()
    {
        var addresses = Scheduler.Client.SchedulerClientOptions.ParseAddresses(MasterUrls);
        return Certificates?.ClientOptions(addresses) ?? new Scheduler.Client.SchedulerClientOptions { Addresses = addresses };
    }

    public string ManifestPath => Path.Combine(Directory, ClusterManifest.FileName);

    /// <summary>Every master's URL, comma separated, as workers and clients take them.</summary>
    public string MasterUrls => string.Join(',', _masters.Select(m => m.Info.Address));

    public IReadOnlyList<ClusterProcess> Processes => [.. _etcd.Select(p => p.Info), .. _masters.Select(p => p.Info), .. _workers.Select(p => p.Info)];

    public IReadOnlyList<ClusterProcess> Masters => _masters.Select(m => m.Info).ToArray();

    public LocalProcess Process(string id) =>
        _etcd.Concat(_masters).Concat(_workers).First(p => p.Info.Id == id).Process;

    public static async Task<LocalHaCluster> StartAsync(LocalHaClusterOptions options, CancellationToken ct)
    {
        var etcd = await EtcdBinary.EnsureAsync(ct);
        var dir = Path.GetFullPath(options.Directory);
        System.IO.Directory.CreateDirectory(dir);
        var cluster = new LocalHaCluster(dir, options.Insecure ? null : LocalCertificates.Ensure(dir));
        try
        {
            File.Delete(cluster.ManifestPath);

            // A plain `up` in this folder left its address here; clients must not take it for ours.
            if (System.IO.Directory.Exists(Path.Combine(dir, "master")))
            {
                File.Delete(Path.Combine(dir, "master", "master.addr"));
            }
            var ports = FreePorts(3 * Members);
            await cluster.StartEtcdAsync(etcd, ports[..(2 * Members)], ct);
            await cluster.StartMastersAsync(options, ports[(2 * Members)..], ct);
            for (var i = 0; i < options.Workers; i++)
            {
                cluster.StartWorker(LocalCluster.WorkerName(i), options);
            }

            await ClusterManifest.WriteAsync(cluster.ManifestPath, cluster.Processes, ct);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Workers first, so they hand their jobs back to a master still listening; etcd last, so masters can resign.
        await StopAllAsync(_workers, HostStopGrace);
        await StopAllAsync(_masters, HostStopGrace);
        await StopAllAsync(_etcd, EtcdStopGrace);
    }

    private async Task StartEtcdAsync(string etcd, int[] ports, CancellationToken ct)
    {
        var members = Enumerable.Range(1, Members)
            .Select(i => (Name: $"etcd-{Num(i)}", Client: Url(ports[2 * (i - 1)]), Peer: Url(ports[(2 * (i - 1)) + 1])))
            .ToArray();
        var initialCluster = string.Join(',', members.Select(m => $"{m.Name}={m.Peer}"));
        var token = $"scheduler-local-{Guid.NewGuid():N}";
        foreach (var (name, client, peer) in members)
        {
            // Each `up --ha` starts a fresh etcd cluster: a member's old data would hold the old ports.
            var data = Path.Combine(Directory, name);
            if (System.IO.Directory.Exists(data))
            {
                System.IO.Directory.Delete(data, recursive: true);
            }

            var process = LocalProcess.Start(
                name,
                etcd,
                [
                    "--name", name,
                    "--data-dir", data,
                    "--listen-client-urls", client,
                    "--advertise-client-urls", client,
                    "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", initialCluster,
                    "--initial-cluster-token", token,
                    "--initial-cluster-state", "new",

                    // Fast elections on loopback, and short enough that a 1 s lease TTL is honoured
                    // (etcd's floor is 1.5 election timeouts), with room for a busy 2-core machine.
                    "--heartbeat-interval", "100",
                    "--election-timeout", "500",
                    "--logger", "zap",
                    "--log-level", "warn",
                ],
                Path.Combine(Directory, $"{name}.log"));
            _etcd.Add((new ClusterProcess("etcd", name, client, process.Pid), process));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        foreach (var (info, process) in _etcd)
        {
            await WaitHealthyAsync(http, info, process, ct);
        }
    }

    /// <summary>
    /// Starts a master that was stopped or killed again, on its own port and data folder, and waits
    /// until it listens (as a standby: the others lead meanwhile). Updates cluster.json with its PID.
    /// </summary>
    public async Task RestartMasterAsync(string id, CancellationToken ct)
    {
        var index = _masters.FindIndex(m => m.Info.Id == id);
        var (info, old) = _masters[index];
        await old.StopAsync(TimeSpan.Zero);
        await old.DisposeAsync();
        var port = new Uri(info.Address).Port;
        var process = StartMasterProcess(id, port);
        _masters[index] = (info with { Pid = process.Pid }, process);
        await WaitForFileAsync(process, Path.Combine(Directory, id, "master.addr"), port, ct);
        await ClusterManifest.WriteAsync(ManifestPath, Processes, ct);
    }

    private LocalHaClusterOptions _options = null!;

    private async Task StartMastersAsync(LocalHaClusterOptions options, int[] ports, CancellationToken ct)
    {
        _options = options;
        for (var i = 1; i <= Members; i++)
        {
            var id = $"master-{Num(i)}";
            var process = StartMasterProcess(id, ports[i - 1]);
            _masters.Add((new ClusterProcess("master", id, MasterUrl(ports[i - 1]), process.Pid), process));
        }

        // A standby writes master.addr too, once it listens.
        for (var i = 0; i < _masters.Count; i++)
        {
            await WaitForFileAsync(_masters[i].Process, Path.Combine(Directory, _masters[i].Info.Id, "master.addr"), ports[i], ct);
        }
    }

    private LocalProcess StartMasterProcess(string id, int port)
    {
        var options = _options;
        var endpoints = string.Join(',', _etcd.Select(e => e.Info.Address));
        var dll = LocalCluster.Locate("Scheduler.Master", "Scheduler.Master.dll");
        var url = MasterUrl(port);
        var data = Path.Combine(Directory, id);
        System.IO.Directory.CreateDirectory(data);
        File.Delete(Path.Combine(data, "master.addr"));
        return LocalProcess.StartDotnet(
                id,
                dll,
                [
                    "--listen", $"127.0.0.1:{Num(port)}",
                    "--advertise", url,
                    "--master-id", id,
                    "--data-dir", data,
                    "--etcd", endpoints,
                    "--etcd-prefix", "/scheduler/",
                    "--lease-ttl-ms", Num(options.LeaseTtlMs),
                    "--heartbeat-interval-ms", Num(options.HeartbeatIntervalMs),
                    "--dead-after-ms", Num(options.DeadAfterMs),
                    "--stop-grace-ms", "2000",
                    .. Certificates?.Issue(Scheduler.Client.ClusterRole.Master, id) ?? ["--insecure"],
                ],
                Path.Combine(Directory, $"{id}.log"));
    }

    private void StartWorker(string nodeId, LocalHaClusterOptions options)
    {
        var worker = LocalProcess.StartDotnet(
            nodeId,
            LocalCluster.Locate("Scheduler.Worker", "Scheduler.Worker.dll"),
            [
                "--master", MasterUrls,
                "--node-id", nodeId,
                "--data-dir", Path.Combine(Directory, nodeId),
                "--gpu-probe", "simulated",
                "--gpus", Num(options.GpusPerWorker),
                "--gpu-model", options.GpuModel,
                "--cpu-millis", "8000",
                "--memory-mib", "32768",
                "--labels", $"node={nodeId}",
                .. Certificates?.Issue(Scheduler.Client.ClusterRole.Node, nodeId) ?? ["--insecure"],
            ],
            Path.Combine(Directory, $"{nodeId}.log"));
        _workers.Add((new ClusterProcess("worker", nodeId, "", worker.Pid), worker));
    }

    private static async Task StopAllAsync(List<(ClusterProcess Info, LocalProcess Process)> processes, TimeSpan grace)
    {
        await Task.WhenAll(processes.Select(p => p.Process.StopAsync(grace)));
        foreach (var (_, process) in processes)
        {
            await process.DisposeAsync();
        }
    }

    private static async Task WaitHealthyAsync(HttpClient http, ClusterProcess member, LocalProcess process, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(EtcdStartTimeout);
        var last = "no answer yet";
        while (true)
        {
            if (process.HasExited)
            {
                throw new IOException($"{member.Id} exited at start; see {process.LogPath}");
            }

            try
            {
                last = await http.GetStringAsync(new Uri(member.Address + "/health"), timeout.Token);
                if (last.Contains("\"health\":\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }

            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"{member.Id} at {member.Address} was not healthy within {EtcdStartTimeout.TotalSeconds:F0} s ({last}); see {process.LogPath}");
            }
        }
    }

    private static async Task WaitForFileAsync(LocalProcess master, string file, int port, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(MasterStartTimeout);
        while (!File.Exists(file))
        {
            if (master.HasExited)
            {
                throw new IOException($"{master.Name}: " + LocalCluster.StartFailure(master.Tail(64 * 1024), port, master.LogPath));
            }

            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"{master.Name} did not start within {MasterStartTimeout.TotalSeconds:F0} s; see {master.LogPath}");
            }
        }
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

    private static string Url(int port) => $"http://127.0.0.1:{Num(port)}";

    private string MasterUrl(int port) => $"{(Certificates is null ? "http" : "https")}://127.0.0.1:{Num(port)}";

    private static string Num(int value) => value.ToString(CultureInfo.InvariantCulture);
}
