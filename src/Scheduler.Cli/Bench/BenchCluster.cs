using System.Diagnostics;
using Scheduler.Cli.Local;
using Scheduler.Client;

namespace Scheduler.Cli.Bench;

/// <summary>
/// What a scale benchmark runs against: a master (SQLite, or etcd with a local member), one worker
/// process hosting N simulated nodes, and a client; waits until every node is ready.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    private BenchCluster(LocalCluster cluster, LocalEtcd? etcd, SchedulerClient client)
    {
        Cluster = cluster;
        Etcd = etcd;
        Client = client;
    }

    public LocalCluster Cluster { get; }

    public LocalEtcd? Etcd { get; }

    public SchedulerClient Client { get; }

    public int MasterPid => Cluster.Master.Pid;

    public int WorkerPid => Cluster.Workers[0].Pid;

    public string Store => Etcd is null ? "sqlite" : "etcd";

    /// <summary>Starts the processes; <see cref="WaitReadyAsync"/> then waits for the nodes.</summary>
    public static async Task<BenchCluster> StartAsync(string directory, int nodes, bool etcd, bool insecure, CancellationToken ct, int heartbeatMs = 1000, int deadAfterMs = 10_000, IReadOnlyList<string>? masterArgs = null)
    {
        Directory.CreateDirectory(directory);
        var store = etcd ? await LocalEtcd.StartAsync(directory, ct) : null;
        try
        {
            var cluster = await LocalCluster.StartAsync(
                new LocalClusterOptions(directory, Workers: 0, GpusPerWorker: 8, HeartbeatIntervalMs: heartbeatMs, DeadAfterMs: deadAfterMs,
                    SimulatedNodes: nodes, MetricsListen: "127.0.0.1:0", Insecure: insecure, Etcd: store?.ClientUrl ?? "", MasterArgs: masterArgs),
                ct);
            return new BenchCluster(cluster, store, new SchedulerClient(cluster.ClientOptions()));
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Waits until <paramref name="nodes"/> are ready or <paramref name="limit"/> passes; the time it took, or null.</summary>
    public async Task<TimeSpan?> WaitReadyAsync(int nodes, TimeSpan limit, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        while (clock.Elapsed < limit)
        {
            if (Cluster.Master.HasExited || Cluster.Workers[0].HasExited)
            {
                throw new IOException($"a process exited; see {Cluster.Master.LogPath} and {Cluster.Workers[0].LogPath}");
            }

            var ready = 0;
            try
            {
                ready = (await Client.GetClusterStatusAsync(ct)).NodesReady;
            }
            catch (Grpc.Core.RpcException)
            {
            }
            catch (MasterUnreachableException)
            {
            }

            if (ready >= nodes)
            {
                return clock.Elapsed;
            }

            if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(15))
            {
                lastReport = clock.Elapsed;
                await output.WriteLineAsync($"  ... {ready}/{nodes} nodes ready after {clock.Elapsed.TotalSeconds:F0} s");
            }

            await Task.Delay(500, ct);
        }

        return null;
    }

    /// <summary>
    /// The master's store: the SQLite files in its folder, or the etcd member's database in use
    /// (etcd_mvcc_db_total_size_in_use_in_bytes; its folder holds preallocated 64 MB WAL files).
    /// </summary>
    public async Task<long> StoreBytesAsync(CancellationToken ct)
    {
        if (Etcd is not null)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            try
            {
                var metrics = await http.GetStringAsync(new Uri(Etcd.ClientUrl + "/metrics"), ct);
                var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("etcd_mvcc_db_total_size_in_use_in_bytes ", StringComparison.Ordinal));
                return line is null ? 0 : (long)double.Parse(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or FormatException && !ct.IsCancellationRequested)
            {
                return 0;
            }
        }

        var folder = Path.Combine(Cluster.Directory, "master");
        return Directory.Exists(folder)
            ? new DirectoryInfo(folder).EnumerateFiles("scheduler.db*").Sum(f => f.Length)
            : 0;
    }

    /// <summary>The master's /metrics as text; empty when it cannot be read.</summary>
    public async Task<string> ScrapeAsync(CancellationToken ct)
    {
        if (Cluster.MasterMetricsUrl is not { } url)
        {
            return "";
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            return await http.GetStringAsync(new Uri(url), ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return "";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Cluster.DisposeAsync();
        if (Etcd is not null)
        {
            await Etcd.DisposeAsync();
        }
    }
}
