using System.Globalization;

namespace Scheduler.Cli.Local;

/// <summary>
/// A master and workers with simulated GPUs as child processes on loopback, like `nomad agent -dev`.
/// Used by `schedctl up` (kept running) and `schedctl demo` (scripted, then stopped).
/// </summary>
internal sealed partial class LocalCluster : IAsyncDisposable
{
    private readonly List<LocalProcess> _workers = [];
    private string _workerMetricsListen = "";
    private string? _workerToken;

    private LocalCluster(string directory, LocalProcess master, string masterUrl, LocalCertificates? certificates)
    {
        Directory = directory;
        Master = master;
        MasterUrl = masterUrl;
        Certificates = certificates;
    }

    public static string DefaultDirectory => Path.Combine(".scheduler", "local");

    public string Directory { get; }

    public LocalProcess Master { get; }

    public string MasterUrl { get; }

    public IReadOnlyList<LocalProcess> Workers => _workers;

    /// <summary>With auth on: the bootstrap admin token, also in DIR/admin.token (which schedctl reads by default); null otherwise.</summary>
    public string? AdminToken { get; private init; }

    /// <summary>The cluster's CA and certificates (DIR/certs); null when it runs --insecure.</summary>
    public LocalCertificates? Certificates { get; }

    /// <summary>Client settings for this cluster's master: its URL, and with TLS the CA and schedctl's client certificate.</summary>
    public Scheduler.Client.SchedulerClientOptions ClientOptions() =>
        WithToken(Certificates?.ClientOptions([new Uri(MasterUrl)]), new Uri(MasterUrl), AdminToken);

    /// <summary><paramref name="tls"/> (null: plaintext to <paramref name="master"/>) with <paramref name="token"/> added.</summary>
    private static Scheduler.Client.SchedulerClientOptions WithToken(Scheduler.Client.SchedulerClientOptions? tls, Uri master, string? token) => new()
    {
        Addresses = tls?.Addresses ?? [master],
        CaCertificate = tls?.CaCertificate,
        ClientCertificate = tls?.ClientCertificate,
        Token = token,
    };

    public static async Task<LocalCluster> StartAsync(LocalClusterOptions options, CancellationToken ct)
    {
        var dir = Path.GetFullPath(options.Directory);
        var masterDir = Path.Combine(dir, "master");
        System.IO.Directory.CreateDirectory(masterDir);
        var addressFile = Path.Combine(masterDir, "master.addr");
        File.Delete(addressFile);
        File.Delete(Path.Combine(masterDir, "status.url"));

        // An `up --ha` in this folder left its masters here; clients must not take them for ours.
        File.Delete(Path.Combine(dir, ClusterManifest.FileName));
        var certificates = options.Insecure ? null : LocalCertificates.Ensure(dir);
        var master = LocalProcess.StartDotnet(
            "master",
            Locate("Scheduler.Master", "Scheduler.Master.dll"),
            [
                "--listen", $"127.0.0.1:{options.Port.ToString(CultureInfo.InvariantCulture)}",
                "--data-dir", masterDir,
                "--heartbeat-interval-ms", options.HeartbeatIntervalMs.ToString(CultureInfo.InvariantCulture),
                "--dead-after-ms", options.DeadAfterMs.ToString(CultureInfo.InvariantCulture),
                "--stop-grace-ms", "2000",
                .. MetricsArgs(options.MetricsListen),
                .. options.HttpListen is { } http ? new[] { "--http-listen", http } : [],
                .. options.Auth ? new[] { "--auth", "--bootstrap-token-file", Path.Combine(dir, Cli.TokenFileName) } : [],
                .. certificates?.Issue(Scheduler.Client.ClusterRole.Master, "local") ?? ["--insecure"],
                .. options.Etcd.Length > 0 ? new[] { "--etcd", options.Etcd, "--etcd-prefix", "/scheduler/" } : [],
                .. options.MasterArgs ?? [],
            ],
            Path.Combine(dir, "master.log"));
        string url;
        try
        {
            url = await WaitForAddressAsync(master, addressFile, options.Port, ct);
        }
        catch
        {
            await master.DisposeAsync();
            throw;
        }

        string? adminToken = null;
        string? workerToken = null;
        if (options.Auth)
        {
            try
            {
                // The master wrote the file before it listened: it exists once master.addr does.
                adminToken = (await File.ReadAllTextAsync(Path.Combine(dir, Cli.TokenFileName), ct)).Trim();
                await using var client = new Scheduler.Client.SchedulerClient(WithToken(certificates?.ClientOptions([new Uri(url)]), new Uri(url), adminToken));
                workerToken = (await client.CreateTokenAsync("local workers", "worker", null, ct)).Secret;
            }
            catch
            {
                await master.DisposeAsync();
                throw;
            }
        }

        var cluster = new LocalCluster(dir, master, url, certificates) { _workerMetricsListen = WorkerMetricsListen(options.MetricsListen), _workerToken = workerToken, AdminToken = adminToken };
        for (var i = 0; i < options.Workers; i++)
        {
            cluster.StartWorker(WorkerName(i), options.GpusPerWorker, options.GpuModel);
        }

        if (options.SimulatedNodes > 0)
        {
            // One process hosting many nodes (sim-000, sim-001, ...): scale without a process per node.
            cluster.StartWorker("sim", options.GpusPerWorker, options.GpuModel, ["--simulate", options.SimulatedNodes.ToString(CultureInfo.InvariantCulture), .. options.WorkerArgs ?? []]);
        }

        return cluster;
    }

    /// <summary>Where the master's /metrics is, once it has written it (port 0 picks one); null before or without --metrics-listen.</summary>
    public string? MasterMetricsUrl
    {
        get
        {
            var file = Path.Combine(Directory, "master", "metrics.addr");
            return File.Exists(file) ? File.ReadAllText(file).Trim() + "/metrics" : null;
        }
    }

    private static string[] MetricsArgs(string listen) => listen.Length > 0 ? ["--metrics-listen", listen] : [];

    /// <summary>Workers scrape on the master's host, each on a free port (written to DIR/NODE/metrics.addr).</summary>
    private static string WorkerMetricsListen(string masterListen)
    {
        var colon = masterListen.LastIndexOf(':');
        return colon > 0 ? masterListen[..colon] + ":0" : "";
    }

    /// <summary>
    /// The status page's URL once the master wrote it (right after its address), or null when the master
    /// serves none or has not written it within a few seconds.
    /// </summary>
    public async Task<string?> StatusUrlAsync(CancellationToken ct)
    {
        var file = Path.Combine(Directory, "master", "status.url");
        for (var waited = 0; waited < 100 && !File.Exists(file); waited++)
        {
            await Task.Delay(50, ct);
        }

        return File.Exists(file) ? (await File.ReadAllTextAsync(file, ct)).Trim() : null;
    }

    /// <summary>worker-a, worker-b, ... worker-z, worker-27, ...</summary>
    public static string WorkerName(int index) =>
        index < 26 ? $"worker-{(char)('a' + index)}" : $"worker-{(index + 1).ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// The process hosting many simulated nodes runs the server GC with a 128 MB gen0 budget. With the
    /// default workstation GC, 10,000 nodes kept an 825 MB gen2 (390 MB of it fragmentation) and ran
    /// about three gen1 collections a second that paused it 0.55-0.63 s of every second: heartbeats
    /// went out late, the master judged nodes silent, streams were cut and the nodes never all
    /// converged. A real worker (one node a process) keeps the default.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> SimulationHostGc = new Dictionary<string, string>
    {
        ["DOTNET_gcServer"] = "1",
        ["DOTNET_GCgen0size"] = "0x8000000",
    };

    public LocalProcess StartWorker(string nodeId, int gpus, string gpuModel, params string[] extraArgs)
    {
        var worker = LocalProcess.StartDotnet(
            nodeId,
            Locate("Scheduler.Worker", "Scheduler.Worker.dll"),
            [
                "--master", MasterUrl,
                "--node-id", nodeId,
                "--data-dir", Path.Combine(Directory, nodeId),
                "--gpu-probe", "simulated",
                "--gpus", gpus.ToString(CultureInfo.InvariantCulture),
                "--gpu-model", gpuModel,
                "--cpu-millis", "8000",
                "--memory-mib", "32768",
                "--labels", $"node={nodeId}",
                .. MetricsArgs(_workerMetricsListen),
                .. _workerToken is { } token ? new[] { "--token", token } : [],
                .. Certificates?.Issue(Scheduler.Client.ClusterRole.Node, extraArgs.Contains("--simulate") ? nodeId + "-*" : nodeId) ?? ["--insecure"],
                .. extraArgs,
            ],
            Path.Combine(Directory, $"{nodeId}.log"),
            extraArgs.Contains("--simulate") ? SimulationHostGc : null);
        _workers.Add(worker);
        return worker;
    }

    public async ValueTask DisposeAsync()
    {
        // Workers first, so they report their agents' exits to a master still listening.
        await Task.WhenAll(_workers.Select(w => w.DisposeAsync().AsTask()));
        await Master.DisposeAsync();
    }

    /// <summary>The built master/worker beside schedctl: artifacts/bin/PROJECT/CONFIG/, or one flat folder.</summary>
    internal static string Locate(string project, string dll)
    {
        var own = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var flat = Path.Combine(own, dll);
        if (File.Exists(flat))
        {
            return flat;
        }

        var config = Path.GetFileName(own);
        var sibling = Path.GetFullPath(Path.Combine(own, "..", "..", project, config, dll));
        return File.Exists(sibling)
            ? sibling
            : throw new FileNotFoundException($"{dll} is not built (looked in {own} and {sibling}); run ./build.sh build first");
    }

    private static async Task<string> WaitForAddressAsync(LocalProcess master, string addressFile, int port, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (!File.Exists(addressFile))
        {
            if (master.HasExited)
            {
                throw new IOException(StartFailure(master.Tail(64 * 1024), port, master.LogPath));
            }

            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new IOException($"the master did not start within 60 s; see {master.LogPath}");
            }
        }

        return (await File.ReadAllTextAsync(addressFile, ct)).Trim();
    }

    /// <summary>Why the master exited at start, in one line: the cause from its log, not the stack trace under it.</summary>
    internal static string StartFailure(string log, int port, string logPath)
    {
        if (log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            return $"port {port.ToString(CultureInfo.InvariantCulture)} is already in use (another master, or `schedctl up` already running?); "
                + "choose another with --port N, or --port 0 for any free port";
        }

        var cause = log.Split('\n')
            .Select(line => Cause().Match(line.Trim()))
            .FirstOrDefault(m => m.Success)?.Groups["cause"].Value;
        return cause is null
            ? $"the master exited at start; see {logPath}"
            : $"the master exited at start: {cause} (log: {logPath})";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(error: |Unhandled exception\. )([\w.]+Exception: )?(?<cause>.+)$")]
    private static partial System.Text.RegularExpressions.Regex Cause();
}
