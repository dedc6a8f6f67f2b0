namespace Scheduler.Cli.Local;

/// <summary>
/// `schedctl up --ha`. Dead-after is twice the single master's: a worker fences its agents
/// `dead-after − heartbeat` after its last acknowledged heartbeat, and a failover (lease expiry,
/// election, reconnect) must fit well inside that, or a takeover would kill running jobs.
/// </summary>
internal sealed record LocalHaClusterOptions(
    string Directory,
    int Workers = 2,
    int GpusPerWorker = 4,
    string GpuModel = "A100",
    int LeaseTtlMs = 2000,
    int HeartbeatIntervalMs = 500,
    int DeadAfterMs = 6000);
