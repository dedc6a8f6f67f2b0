namespace Scheduler.Tests.Common;

/// <summary>
/// A real master and real workers as child processes on loopback, each with its own data
/// folder and log. Disposing stops every process by PID; on a failed test the logs are
/// printed so the failure can be understood from CI output alone. TLS as deployed (the test CA of
/// <see cref="TestCertificates"/>: master:test, node:ID per worker) unless the master's arguments hold
/// --insecure, which its workers then get too.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly List<ManagedProcess> _processes = [];
    private int _masterStarts;

    private readonly string[] _masterArgs;

    private TestCluster(string root, ClusterTimings timings, string[] masterArgs)
    {
        Root = root;
        Timings = timings;
        _masterArgs = masterArgs;
        Tls = !masterArgs.Contains("--insecure");
    }

    /// <summary>Whether master and workers speak TLS (the default) rather than plaintext (--insecure among the master's arguments).</summary>
    public bool Tls { get; }

    public string Root { get; }

    public ClusterTimings Timings { get; }

    public ManagedProcess? Master { get; private set; }

    public string MasterUrl { get; private set; } = "";

    public string MasterDataDir => Path.Combine(Root, "master");

    public IReadOnlyList<ManagedProcess> Processes => _processes;

    public static async Task<TestCluster> StartAsync(string name, ClusterTimings? timings = null, params string[] masterArgs)
    {
        var root = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 9, 60)]);
        Directory.CreateDirectory(root);
        var cluster = new TestCluster(root, timings ?? ClusterTimings.Fast, masterArgs);
        await cluster.StartMasterAsync();
        return cluster;
    }

    /// <summary>Starts (or restarts) the master on the cluster's data folder and waits for its address.</summary>
    public async Task StartMasterAsync(IReadOnlyList<string>? extraArgs = null)
    {
        var addressFile = Path.Combine(MasterDataDir, "master.addr");
        Directory.CreateDirectory(MasterDataDir);
        File.Delete(addressFile);
        _masterStarts++;
        var port = MasterUrl.Length == 0 ? "0" : new Uri(MasterUrl).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Master = Track(ManagedProcess.StartDotnet(
            $"master#{_masterStarts}",
            Artifacts.MasterDll,
            [
                "--listen", $"127.0.0.1:{port}",
                "--data-dir", MasterDataDir,
                "--heartbeat-interval-ms", Timings.HeartbeatIntervalMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--dead-after-ms", Timings.DeadAfterMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--stop-grace-ms", "2000",
                .. _masterArgs,
                .. Tls ? TestCertificates.Args(Scheduler.Client.ClusterRole.Master, "test") : [],
                .. extraArgs ?? [],
            ],
            Path.Combine(Root, $"master-{_masterStarts}.log")));
        var master = Master;
        MasterUrl = await Eventually.ReturnsAsync(
            () =>
            {
                if (master.HasExited)
                {
                    throw new AssertionException($"master exited with {master.ExitCode}:\n{master.ReadLog()}");
                }

                return Task.FromResult(File.Exists(addressFile) ? File.ReadAllText(addressFile).Trim() : null);
            },
            "the master to write master.addr");
    }

    /// <summary>Starts a worker process with simulated GPUs (or with the probe <paramref name="gpuProbe"/> names; null leaves the worker's default).</summary>
    public ManagedProcess StartWorker(string nodeId, int gpus = 4, string gpuModel = "A100", long cpuMillis = 8000, long memoryMib = 32768, string? labels = null, string? gpuProbe = "simulated", params string[] extraArgs)
    {
        var args = new List<string>
        {
            "--master", MasterUrl,
            "--node-id", nodeId,
            "--data-dir", Path.Combine(Root, nodeId),
            "--cpu-millis", cpuMillis.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--memory-mib", memoryMib.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (gpuProbe is not null)
        {
            args.AddRange(["--gpu-probe", gpuProbe]);
        }

        if (gpuProbe == "simulated")
        {
            args.AddRange(["--gpus", gpus.ToString(System.Globalization.CultureInfo.InvariantCulture), "--gpu-model", gpuModel, "--gpu-memory-mib", "40960"]);
        }
        if (labels is not null)
        {
            args.AddRange(["--labels", labels]);
        }

        // A test that brings its own certificate (or none) says so with --cert or --insecure.
        if (!extraArgs.Any(a => a is "--cert" or "--insecure" or "--ca"))
        {
            args.AddRange(Tls
                ? TestCertificates.Args(Scheduler.Client.ClusterRole.Node, extraArgs.Contains("--simulate") ? nodeId + "-*" : nodeId)
                : ["--insecure"]);
        }

        // The agents these tests run write to the tests' own folders (ledgers, markers), as the tests' user;
        // a test of who agents run as passes --agent-user itself.
        if (!extraArgs.Contains("--agent-user"))
        {
            args.AddRange(["--agent-user", "off"]);
        }

        args.AddRange(extraArgs);

        return Track(ManagedProcess.StartDotnet(nodeId, Artifacts.WorkerDll, args, Path.Combine(Root, $"{nodeId}.log")));
    }

    public async ValueTask DisposeAsync()
    {
        var failed = TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed;
        foreach (var process in _processes.AsEnumerable().Reverse())
        {
            await process.DisposeAsync();
        }

        if (failed)
        {
            foreach (var process in _processes)
            {
                var log = process.ReadLog();
                var tail = log.Length > 6000 ? log[^6000..] : log;
                await TestContext.Out.WriteLineAsync($"----- {process.Name} ({process.LogPath}) -----\n{tail}");
            }
        }
        else
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

    private ManagedProcess Track(ManagedProcess process)
    {
        _processes.Add(process);
        return process;
    }
}
