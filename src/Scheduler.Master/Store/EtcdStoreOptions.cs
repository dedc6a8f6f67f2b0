namespace Scheduler.Master.Store;

/// <summary>Where the etcd store lives and how long one call may take.</summary>
internal sealed record EtcdStoreOptions
{
    /// <summary>Comma-separated client URLs with their scheme, e.g. "http://127.0.0.1:2379,http://127.0.0.1:22379".</summary>
    public required string Endpoints { get; init; }

    /// <summary>Every key lives under it, so several clusters can share one etcd.</summary>
    public string Prefix { get; init; } = "/scheduler/";

    /// <summary>Deadline of each call (retries included): past it the store reports etcd unavailable.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most operations one transaction may carry: etcd's <c>--max-txn-ops</c> (128 by default).
    /// A batch of jobs that needs more is written in several transactions.
    /// </summary>
    public int MaxTxnOps { get; init; } = 128;

    /// <summary>The most bytes of values one transaction may carry, under etcd's <c>--max-request-bytes</c> (1.5 MiB by default).</summary>
    public int MaxTxnBytes { get; init; } = 1024 * 1024;
}
