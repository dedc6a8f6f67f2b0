namespace Scheduler.Cli.Local;

/// <summary>
/// `schedctl up --ha`. Dead-after is well above the single master's: a worker fences its agents
/// `dead-after − heartbeat` after its last acknowledged heartbeat, and a failover (lease TTL, etcd's
/// expiry sweep, takeover, the worker's reconnect) must fit inside that with room to spare, or a
/// takeover would kill running jobs; the master refuses to start when it would not (8 s holds for
/// a 2 s lease with a 500 ms heartbeat). The lease is 1 s: the local etcd members elect with a 500 ms
/// timeout, so etcd keeps a 1 s lease (its floor is 1.5 election timeouts), and failover takes about
/// 1.5 s (`schedctl bench failover`).
/// </summary>
internal sealed record LocalHaClusterOptions(
    string Directory,
    int Workers = 2,
    int GpusPerWorker = 4,
    string GpuModel = "A100",
    int LeaseTtlMs = 1000,
    int HeartbeatIntervalMs = 500,
    int DeadAfterMs = 8000,
    bool Insecure = false);
