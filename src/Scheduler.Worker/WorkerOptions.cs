using System.ComponentModel.DataAnnotations;

namespace Scheduler.Worker;

/// <summary>Worker settings, bound from the "Worker" configuration section and command-line flags.</summary>
internal sealed class WorkerOptions
{
    public const string Section = "Worker";

    /// <summary>Master URL(s), comma separated; the worker tries them in turn until one accepts it, and goes straight to the leader a standby names. Empty: https://127.0.0.1:7070 (http:// with <see cref="Insecure"/>).</summary>
    public string Master { get; set; } = "";

    /// <summary>A worker-role bearer token for masters started with --auth (when the worker has no client certificate); empty sends none.</summary>
    public string Token { get; set; } = "";

    /// <summary>Stable node name; defaults to the name in the certificate (CN=node:NAME), or with <see cref="Insecure"/> to the host name.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Holds agent logs and scratch folders, cached keys and the last obeyed epoch.</summary>
    [Required]
    public string DataDir { get; set; } = ".scheduler/worker";

    /// <summary>auto (NVML; no GPUs where the driver is not installed), nvml (NVML or refuse to start), or simulated (fake GPUs, asked for by name).</summary>
    [RegularExpression("^(auto|nvml|simulated)$")]
    public string GpuProbe { get; set; } = "auto";

    /// <summary>Simulated probe: how many GPUs.</summary>
    [Range(0, 64)]
    public int Gpus { get; set; } = 4;

    /// <summary>Simulated probe: the model every GPU reports.</summary>
    public string GpuModel { get; set; } = "A100";

    /// <summary>Simulated probe: memory per GPU.</summary>
    [Range(1, 1 << 22)]
    public long GpuMemoryMib { get; set; } = 40960;

    /// <summary>Simulated probe: the GPUs' topology, e.g. "nvlink:0-3,4-7;numa:0-3,4-7" (see the README, "GPU topology"); empty: none.</summary>
    public string SimGpuTopology { get; set; } = "";

    /// <summary>Allocatable CPU; 0 means every core of the host.</summary>
    [Range(0, 10_000_000)]
    public long CpuMillis { get; set; }

    /// <summary>Allocatable memory; 0 means the host's total memory.</summary>
    [Range(0, 1L << 32)]
    public long MemoryMib { get; set; }

    /// <summary>Node labels as k=v,k=v, matched by job node selectors.</summary>
    public string Labels { get; set; } = "";

    /// <summary>Host N simulated workers in this one process (node ids NODE-000...), for scale tests.</summary>
    [Range(0, 10_000)]
    public int Simulate { get; set; }

    /// <summary>
    /// With <see cref="Simulate"/>: most registrations the nodes of this process have in flight at once
    /// (the rest wait their turn), so a mass disconnect does not re-register thousands of nodes at once.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxRegistrationsInFlight { get; set; } = Link.RegistrationGate.DefaultInFlight;

    /// <summary>Upper bound of the reconnect backoff.</summary>
    [Range(100, 600_000)]
    public int MaxReconnectDelayMs { get; set; } = 5000;

    /// <summary>On shutdown, how long agents get between SIGTERM and SIGKILL.</summary>
    [Range(0, 600_000)]
    public int StopGraceMs { get; set; } = 5000;

    /// <summary>HOST:PORT of the checkpoint transfer service (HTTP/2 cleartext); port 0 lets the OS choose. The bound address goes into the registration.</summary>
    public string TransferListen { get; set; } = "127.0.0.1:0";

    /// <summary>A live agent's stdout.log or stderr.log past this size is rotated (its newest part kept as .1); 0 never rotates.</summary>
    [Range(0, 1 << 20)]
    public long AgentLogMaxMib { get; set; } = 64;

    /// <summary>The folder of an agent the master has acknowledged is deleted after this many hours of quiet; 0 keeps it forever.</summary>
    [Range(0, 100 * 365 * 24)]
    public int AgentRetentionHours { get; set; } = 168;

    /// <summary>How often agent logs are checked for rotation and folders for retention.</summary>
    [Range(1, 86_400)]
    public int AgentLogSweepSeconds { get; set; } = 10;

    /// <summary>
    /// Who agents run as: auto (as root, a numeric id of its own per agent from <see cref="AgentUidRange"/>;
    /// otherwise the worker's own user), off (the worker's user, root included), or a user name (every agent as it).
    /// </summary>
    public string AgentUser { get; set; } = Agents.AgentUser.Auto;

    /// <summary>FIRST-LAST: the user and group ids agents get one each of with <c>--agent-user auto</c> as root.</summary>
    public string AgentUidRange { get; set; } = Agents.AgentUidPool.DefaultRange;

    /// <summary>Largest command the worker accepts from its master (gRPC's default is 4 MiB; a start carries a whole job spec).</summary>
    [Range(64 * 1024, 256 * 1024 * 1024)]
    public int MaxMasterMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Print what the GPU probe sees and exit.</summary>
    public bool ProbeOnly { get; set; }

    /// <summary>HOST:PORT of the Prometheus scrape endpoint (/metrics, HTTP/1.1); empty: none. Port 0 picks one, written to metrics.addr.</summary>
    public string MetricsListen { get; set; } = "";

    /// <summary>OTLP collector base URL for metrics, traces and logs; empty: OTEL_EXPORTER_OTLP_ENDPOINT if set, else no export.</summary>
    public string OtlpEndpoint { get; set; } = "";

    /// <summary>grpc (default) or http/protobuf.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>PEM certificate of this node (CN=node:NAME, `schedctl certs issue --node NAME`): its client certificate to the master and to peers, and its transfer server's certificate.</summary>
    public string Cert { get; set; } = "";

    /// <summary>PEM private key of <see cref="Cert"/>.</summary>
    public string Key { get; set; } = "";

    /// <summary>PEM certificate of the cluster CA: masters and peer workers must present certificates it issued.</summary>
    public string Ca { get; set; } = "";

    /// <summary>Plaintext to the master and between workers, no certificates: a warning at start. Only for a trusted network.</summary>
    public bool Insecure { get; set; }
}
