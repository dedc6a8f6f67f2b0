using System.ComponentModel.DataAnnotations;
using Scheduler.Core.Placement;

namespace Scheduler.Master;

/// <summary>Master settings, bound from the "Master" configuration section and command-line flags.</summary>
internal sealed class MasterOptions
{
    public const string Section = "Master";

    /// <summary>host:port to serve gRPC on; port 0 picks a free port (written to master.addr).</summary>
    [Required]
    public string Listen { get; set; } = "127.0.0.1:7070";

    /// <summary>Holds the SQLite database and master.addr.</summary>
    [Required]
    public string DataDir { get; set; } = ".scheduler/master";

    /// <summary>Identity of this master in leader information; defaults to the host name.</summary>
    public string MasterId { get; set; } = Environment.MachineName;

    [Range(50, 60_000)]
    public int HeartbeatIntervalMs { get; set; } = 1000;

    /// <summary>A node silent this long is declared dead and its jobs are requeued.</summary>
    [Range(200, 3_600_000)]
    public int DeadAfterMs { get; set; } = 10_000;

    /// <summary>
    /// A mass silence (<see cref="Scheduling.MassSilenceGuard"/>) needs at least this many nodes silent
    /// past dead-after (or declared dead within the last dead-after); fewer are declared dead at once.
    /// </summary>
    [Range(1, 10_000_000)]
    public int MassSilenceMinNodes { get; set; } = 10;

    /// <summary>
    /// ... and more than this share (0–1) of the nodes not dead: their dead verdicts are then paced
    /// (the master suspects itself or its network). 1 turns the guard off.
    /// </summary>
    [Range(0.0, 1.0)]
    public double MassSilenceShare { get; set; } = 0.55;

    /// <summary>During a mass silence, dead verdicts per second as a percentage of the nodes (at least one a second).</summary>
    [Range(0.0, 100.0)]
    public double MassSilenceDeadPerSecondPercent { get; set; } = 1.0;

    /// <summary>Missed heartbeat intervals before a connected node is marked suspect.</summary>
    [Range(1, 100)]
    public int SuspectAfterMissed { get; set; } = 3;

    [Required]
    public string PlacementPolicy { get; set; } = PlacementPolicies.Default;

    /// <summary>priority (with aging), fifo, sjf (by runtime estimate) or drf (per-tenant dominant resource fairness).</summary>
    [Required]
    public string QueuePolicy { get; set; } = Core.Queueing.QueuePolicies.Default;

    /// <summary>EASY backfill: a later job may start when it does not delay the blocked head job's reservation.</summary>
    public bool Backfill { get; set; } = true;

    /// <summary>Jobs at or above this priority may evict lower-priority work when they fit nowhere; 0 turns preemption off.</summary>
    [Range(0, 1000)]
    public int PreemptMinPriority { get; set; } = 500;

    /// <summary>Jobs at or above this priority are never evicted.</summary>
    [Range(1, 1001)]
    public int PreemptProtectedPriority { get; set; } = 900;

    /// <summary>Per-tenant ceilings on what running jobs may hold, e.g. Master:Quotas:team-a:GpuMilli=4000.</summary>
    public Dictionary<string, TenantQuota> Quotas { get; set; } = [];

    /// <summary>Waiting this long raises a job's effective priority by one aging step; 0 disables aging.</summary>
    [Range(0, 86_400)]
    public int AgingIntervalSeconds { get; set; } = 60;

    [Range(0, 1000)]
    public int AgingStep { get; set; } = 10;

    /// <summary>Grace between SIGTERM and SIGKILL when the master stops an agent.</summary>
    [Range(0, 600_000)]
    public int StopGraceMs { get; set; } = 5000;

    /// <summary>
    /// Most submissions the leader's inbox holds waiting for its loop; a submit past it is answered
    /// RESOURCE_EXHAUSTED with a retry-after-ms hint and nothing stored. Worker messages are never bounded by it.
    /// </summary>
    [Range(1, 10_000_000)]
    public int MaxPendingSubmits { get; set; } = Scheduling.EventInbox.DefaultMaxSubmits;

    /// <summary>Largest request message accepted from clients; larger ones fail with RESOURCE_EXHAUSTED.</summary>
    [Range(4096, 64 * 1024 * 1024)]
    public int MaxRequestBytes { get; set; } = 1024 * 1024;

    /// <summary>How long GetLogs waits for the worker's answer.</summary>
    [Range(100, 600_000)]
    public int LogsTimeoutMs { get; set; } = 10_000;

    /// <summary>
    /// After a master takes over (or restarts), how long it waits for the known workers to reconnect
    /// before placing jobs; it places at once when all are back. Workers that miss it stay suspect
    /// until <see cref="DeadAfterMs"/> (never requeued earlier: their agents may still run).
    /// </summary>
    [Range(0, 600_000)]
    public int ReconnectWindowMs { get; set; } = 3000;

    /// <summary>A registering worker may raise the epoch by at most this much (see <see cref="Validation.EpochClaim"/>).</summary>
    [Range(1, Validation.WorkerMessageValidator.MaxEpoch)]
    public long MaxEpochAdvance { get; set; } = Validation.EpochClaim.DefaultMaxAdvance;

    /// <summary>etcd client URLs, comma-separated (http://...); empty: the embedded SQLite store in <see cref="DataDir"/>.</summary>
    public string Etcd { get; set; } = "";

    /// <summary>Every etcd key of this cluster lives under it.</summary>
    public string EtcdPrefix { get; set; } = "/scheduler/";

    /// <summary>The URL clients and workers are told for this master; empty: its listen address.</summary>
    public string Advertise { get; set; } = "";

    /// <summary>The leader lease's time to live on etcd (rounded up to whole seconds by etcd).</summary>
    [Range(1000, 60_000)]
    public int LeaseTtlMs { get; set; } = 2000;

    /// <summary>Start an empty store on a folder whose database is missing, empty or corrupt (job history is lost).</summary>
    public bool ForceNewStore { get; set; }

    /// <summary>Upper bound on the store's size; 0 for none. Past it, writes fail as UNAVAILABLE like a full disk.</summary>
    [Range(0, 1 << 30)]
    public long MaxStoreMib { get; set; }

    /// <summary>
    /// off, max-load or fragmentation (<see cref="Scheduling.RebalanceModes"/>): what rebalancing runs
    /// aim for by live-migrating checkpointable jobs. Checked by <see cref="RebalanceOptionsValidation"/>.
    /// </summary>
    public string Rebalance { get; set; } = Scheduling.RebalanceModes.Off;

    /// <summary>Time between rebalancing runs, on the loop's clock.</summary>
    public int RebalanceIntervalSeconds { get; set; } = 60;

    /// <summary>Migrations one rebalancing run may start.</summary>
    public int RebalanceMaxPerRun { get; set; } = 2;

    /// <summary>A rebalancing run starts none while this many migrations (of any origin) are under way.</summary>
    public int RebalanceMaxInFlight { get; set; } = 4;

    /// <summary>Finished jobs are deleted this many hours after they finished; 0 keeps them forever.</summary>
    [Range(0, 100 * 8766)]
    public int JobRetentionHours { get; set; } = 168;

    /// <summary>
    /// Finished jobs are deleted this long after they finished, as a duration (30s, 10m, 24h, 7d; 0 keeps
    /// them forever); empty: <see cref="JobRetentionHours"/> decides. Read by <see cref="JobRetention"/>.
    /// </summary>
    public string JobRetention { get; set; } = "";

    /// <summary>
    /// How long after its submission a job, and so its request id, is kept whatever the retention: a
    /// retried submit within it returns the job the first call created instead of making a second one
    /// (30s, 10m, 24h, 7d; 0 lets retention forget request ids with their jobs). Read by <see cref="JobRetention"/>.
    /// </summary>
    public string RequestIdWindow { get; set; } = "10m";

    /// <summary>How often the autoscaling signal is worked out (seconds); 0 turns it off.</summary>
    [Range(0, 86_400)]
    public int AutoscaleIntervalSeconds { get; set; } = 30;

    /// <summary>Hosts are advised away from the peak use over this window (seconds).</summary>
    [Range(10, 7 * 86_400)]
    public int AutoscaleWindowSeconds { get; set; } = 600;

    /// <summary>Idle hosts of each kind kept beyond the window's peak need.</summary>
    [Range(0, 1000)]
    public int AutoscaleSpareHosts { get; set; } = 1;

    /// <summary>Where a changed autoscaling signal is POSTed as JSON; empty for nowhere.</summary>
    public string AutoscaleWebhook { get; set; } = "";

    /// <summary>HOST:PORT of the Prometheus scrape endpoint (/metrics, HTTP/1.1); empty: none. Port 0 picks one, written to metrics.addr.</summary>
    public string MetricsListen { get; set; } = "";

    /// <summary>OTLP collector base URL for metrics, traces and logs; empty: OTEL_EXPORTER_OTLP_ENDPOINT if set, else no export.</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary>grpc (default) or http/protobuf.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>host:port of the read-only status page (HTTP/1.1); empty: none. Port 0 picks a free one, written to status.url.</summary>
    public string HttpListen { get; set; } = "";

    /// <summary>PEM certificate of this master (CN=master:NAME, issued by `schedctl certs issue --master NAME`).</summary>
    public string Cert { get; set; } = "";

    /// <summary>PEM private key of <see cref="Cert"/>.</summary>
    public string Key { get; set; } = "";

    /// <summary>PEM certificate of the cluster CA: workers' client certificates must chain to it.</summary>
    public string Ca { get; set; } = "";

    /// <summary>Plaintext gRPC, no certificates: a warning at start. Only for a trusted network.</summary>
    public bool Insecure { get; set; }
}
