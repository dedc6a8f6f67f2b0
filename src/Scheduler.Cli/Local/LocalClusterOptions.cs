namespace Scheduler.Cli.Local;

internal sealed record LocalClusterOptions(
    string Directory,
    int Workers = 2,
    int GpusPerWorker = 4,
    string GpuModel = "A100",
    int Port = 0,
    int HeartbeatIntervalMs = 500,
    int DeadAfterMs = 3000,
    int SimulatedNodes = 0,
    string MetricsListen = "",
    string? HttpListen = null,
    bool Auth = false,
    bool Insecure = false,
    string Etcd = "",
    IReadOnlyList<string>? MasterArgs = null,
    IReadOnlyList<string>? WorkerArgs = null);
