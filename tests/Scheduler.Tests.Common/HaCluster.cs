using System.Globalization;

namespace Scheduler.Tests.Common;

/// <summary>Lease and failure-detection settings of an HA test cluster.</summary>
public sealed record HaTimings(int LeaseTtlMs, int HeartbeatIntervalMs, int DeadAfterMs)
{
    /// <summary>
    /// A 1 s lease (honoured by the fixture's fast-election etcd) inside a failover budget that holds:
    /// workers fence after 5.75 s without a leader, a failover needs under 4.9 s with its margin.
    /// </summary>
    public static HaTimings Fast { get; } = new(1000, 250, 6000);
}

/// <summary>One master of an <see cref="HaCluster"/>: its id, data folder, log and process while it runs.</summary>
public sealed class HaMaster(string id, string dataDir, string logPath)
{
    public string Id { get; } = id;

    public string DataDir { get; } = dataDir;

    public string LogPath { get; } = logPath;

    /// <summary>The URL it listens on (and advertises), read from its master.addr.</summary>
    public string Url { get; internal set; } = "";

    public ManagedProcess? Process { get; internal set; }

    public int Pid => Process?.Pid ?? throw new InvalidOperationException($"master {Id} is not running");

    public bool IsRunning => Process is { HasExited: false };

    public string ReadLog() => Process?.ReadLog() ?? "";

    public override string ToString() => $"{Id} ({Url})";
}

/// <summary>
/// Highly available masters on real etcd: N etcd members, several masters with distinct ids and data
/// folders on free loopback ports (each address read from its master.addr), and workers given every
/// master's URL, all on TLS with the test CA (<see cref="TestCertificates"/>). Disposing stops workers, masters and etcd by PID; on a failed test every log is printed.
/// </summary>
public sealed class HaCluster : IAsyncDisposable
{
    private readonly List<ManagedProcess> _workers = [];
    private readonly List<HaMaster> _masters = [];

    // Appended to every master's arguments (e.g. --auth), restarts included.
    private IReadOnlyList<string> _extraMasterArgs = [];

    private HaCluster(string root, EtcdCluster etcd, HaTimings timings)
    {
        Root = root;
        Etcd = etcd;
        Timings = timings;
    }

    public string Root { get; }

    public EtcdCluster Etcd { get; }

    public HaTimings Timings { get; }

    public IReadOnlyList<HaMaster> Masters => _masters;

    /// <summary>Every master's URL, comma-separated, as workers, the client and schedctl take them.</summary>
    public string MasterUrls => string.Join(',', _masters.Select(m => m.Url));

    public IReadOnlyList<ManagedProcess> Workers => _workers;

    public static async Task<HaCluster> StartAsync(string name, int etcdMembers = 1, int masters = 3, HaTimings? timings = null, IReadOnlyList<string>? extraMasterArgs = null)
    {
        var root = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"ha-{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 12, 60)]);
        Directory.CreateDirectory(root);
        var etcd = await EtcdCluster.StartAsync(name, etcdMembers);
        var cluster = new HaCluster(root, etcd, timings ?? HaTimings.Fast) { _extraMasterArgs = extraMasterArgs ?? [] };
        try
        {
            for (var i = 1; i <= masters; i++)
            {
                var id = "m" + i.ToString(CultureInfo.InvariantCulture);
                cluster._masters.Add(new HaMaster(id, Path.Combine(root, id), Path.Combine(root, $"{id}.log")));
            }

            foreach (var master in cluster._masters)
            {
                cluster.LaunchMaster(master);
            }

            foreach (var master in cluster._masters)
            {
                await WaitForAddressAsync(master);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>Runs a master with the given HA arguments on its own data folder; exits with a one-line reason when refused.</summary>
    public static IReadOnlyList<string> MasterArgs(string id, string dataDir, string etcdEndpoints, HaTimings timings, string port = "0") =>
    [
        "--listen", $"127.0.0.1:{port}",
        "--data-dir", dataDir,
        "--master-id", id,
        "--etcd", etcdEndpoints,
        "--etcd-prefix", "/ha-test/",
        "--lease-ttl-ms", timings.LeaseTtlMs.ToString(CultureInfo.InvariantCulture),
        "--heartbeat-interval-ms", timings.HeartbeatIntervalMs.ToString(CultureInfo.InvariantCulture),
        "--dead-after-ms", timings.DeadAfterMs.ToString(CultureInfo.InvariantCulture),
        "--stop-grace-ms", "2000",
        .. TestCertificates.Args(Scheduler.Client.ClusterRole.Master, id),
    ];

    /// <summary>Starts a worker with simulated GPUs that knows every master (or only <paramref name="masterUrls"/>).</summary>
    public ManagedProcess StartWorker(string nodeId, long cpuMillis = 4000, string? masterUrls = null)
    {
        var args = new List<string>
        {
            "--master", masterUrls ?? MasterUrls,
            "--node-id", nodeId,
            "--data-dir", Path.Combine(Root, nodeId),
            "--cpu-millis", cpuMillis.ToString(CultureInfo.InvariantCulture),
            "--memory-mib", "32768",
            "--gpu-probe", "simulated",
            "--gpus", "2",
            "--gpu-model", "A100",
            "--gpu-memory-mib", "40960",

            // The agents these tests run write to the tests' own folders (ledgers), as the tests' user.
            "--agent-user", "off",
        };
        args.AddRange(TestCertificates.Args(Scheduler.Client.ClusterRole.Node, nodeId));
        var worker = ManagedProcess.StartDotnet(nodeId, Artifacts.WorkerDll, args, Path.Combine(Root, $"{nodeId}.log"));
        _workers.Add(worker);
        return worker;
    }

    public HaMaster MasterById(string id) => _masters.Single(m => m.Id == id);

    public HaMaster MasterByUrl(string url) => _masters.Single(m => m.Url == url);

    public async ValueTask DisposeAsync()
    {
        var failed = TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed;
        foreach (var worker in _workers.AsEnumerable().Reverse())
        {
            // A test may leave a process stopped (SIGSTOP): wake it so SIGTERM can work.
            if (!worker.HasExited)
            {
                Posix.Signal(worker.Pid, Posix.SigCont);
            }

            await worker.DisposeAsync();
        }

        foreach (var master in _masters)
        {
            if (master.Process is { } process)
            {
                if (!process.HasExited)
                {
                    Posix.Signal(process.Pid, Posix.SigCont);
                }

                await process.DisposeAsync();
            }
        }

        if (failed)
        {
            foreach (var master in _masters)
            {
                await PrintTailAsync($"master {master.Id} ({master.Url}, {master.LogPath})", master.ReadLog());
            }

            foreach (var worker in _workers)
            {
                await PrintTailAsync($"{worker.Name} ({worker.LogPath})", worker.ReadLog());
            }

            await TestContext.Out.WriteLineAsync(Etcd.ReadLogs());
        }

        await Etcd.DisposeAsync();
        if (!failed)
        {
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
    }

    private void LaunchMaster(HaMaster master)
    {
        Directory.CreateDirectory(master.DataDir);
        File.Delete(Path.Combine(master.DataDir, "master.addr"));
        master.Process = ManagedProcess.StartDotnet(
            $"master {master.Id}",
            Artifacts.MasterDll,
            [.. MasterArgs(master.Id, master.DataDir, Etcd.Endpoints, Timings), .. _extraMasterArgs],
            master.LogPath);
    }

    private static async Task WaitForAddressAsync(HaMaster master)
    {
        var addressFile = Path.Combine(master.DataDir, "master.addr");
        var process = master.Process!;
        master.Url = await Eventually.ReturnsAsync(
            () =>
            {
                if (process.HasExited)
                {
                    throw new AssertionException($"master {master.Id} exited with {process.ExitCode}:\n{process.ReadLog()}");
                }

                return Task.FromResult(File.Exists(addressFile) ? File.ReadAllText(addressFile).Trim() : null);
            },
            $"master {master.Id} to write master.addr",
            TimeSpan.FromSeconds(60));
    }

    private static async Task PrintTailAsync(string title, string log)
    {
        var tail = log.Length > 8000 ? log[^8000..] : log;
        await TestContext.Out.WriteLineAsync($"----- {title} -----\n{tail}");
    }
}
