namespace Scheduler.Worker;

/// <summary>
/// What the worker makes of its arguments before it builds a host: `--help` and `--version` print and
/// exit, and a flag it does not know is an error. Configuration binding ignores unknown keys, so without
/// this `--help` started a worker that claimed the whole host, and a mistyped flag was silently dropped.
/// </summary>
internal static class CommandLine
{
    private const string Help =
        """
        Scheduler.Worker: the scheduler's worker daemon, one per GPU host; runs agents for the master.

        Usage: Scheduler.Worker [flags]

          --master URL[,URL...]        master address(es) (default https://127.0.0.1:7070; http:// with --insecure)
          --token TOKEN                a worker-role bearer token for a master started with --auth (env
                                       SCHEDULER_Worker__Token)
          --node-id ID                 this node's name (default: the NAME of its certificate's CN=node:NAME; with
                                       --insecure the host name); with TLS it must be the certificate's name
          --cert FILE --key FILE       this node's certificate and key, PEM (schedctl certs issue --node NAME): shown
                                       to masters and peers, and served by the transfer service
          --ca FILE                    the cluster CA (PEM): masters and peer workers must chain to it
          --insecure                   plaintext to masters and peers, no certificates (logs a warning)
          --data-dir DIR               agent logs and scratch, last obeyed epoch, cache/ (default .scheduler/worker)
          --gpu-probe auto|nvml|simulated
                                       auto (default): NVML; a host without the NVIDIA driver offers no GPUs
                                       (with a warning), one whose driver fails refuses to start; nvml: refuse
                                       to start without NVML; simulated: fake GPUs for tests (see --gpus)
          --gpus N                     simulated probe: how many GPUs (default 4)
          --gpu-model NAME             simulated probe: their model (default A100)
          --gpu-memory-mib N           simulated probe: memory per GPU (default 40960)
          --sim-gpu-topology SPEC      simulated probe: topology, levels separated by ';', each LEVEL:GROUP,GROUP
                                       with LEVEL nvlink, pcie-switch or numa and a GROUP indices or ranges joined
                                       by '+', e.g. "nvlink:0-3,4-7;numa:0-3,4-7" (default: none)
          --cpu-millis N               allocatable CPU (default: every core of the host)
          --memory-mib N               allocatable memory (default: the host's total memory)
          --labels k=v,k=v             node labels for job node selectors
          --simulate N                 host N simulated workers in this one process (scale tests)
          --max-registrations-in-flight N
                                       with --simulate: most registrations the nodes have in flight at once,
                                       the rest waiting their turn (default 64)
          --max-reconnect-delay-ms MS  upper bound of the reconnect backoff (default 5000; also at most a
                                       quarter of the master's dead-after)
          --stop-grace-ms MS           on shutdown, SIGTERM to SIGKILL for its agents (default 5000)
          --transfer-listen HOST:PORT  checkpoint transfer service, HTTP/2 over TLS (peers must show a node certificate;
                                       cleartext with --insecure) (default 127.0.0.1:0: loopback,
                                       a port the OS picks); the bound address is sent to the master at registration
          --metrics-listen HOST:PORT   Prometheus scrape endpoint /metrics over HTTP/1.1 (default none; port 0 picks
                                       a free one, written to <data-dir>/metrics.addr)
          --otlp-endpoint URL          export metrics, traces and logs by OTLP to this collector (default: the
                                       OTEL_EXPORTER_OTLP_ENDPOINT variable, else none)
          --otlp-protocol grpc|http/protobuf
                                       OTLP transport (default grpc)
          --agent-log-max-mib N        rotate a live agent's stdout.log/stderr.log past N MiB, keeping its newest
                                       N MiB as .1 (default 64; 0: never); checked every
                                       --Worker:AgentLogSweepSeconds (default 10)
          --agent-retention-hours N    delete an agent's folder (logs, work/) N hours after the master recorded
                                       its exit (default 168; 0: keep forever)
          --agent-user auto|off|NAME   who agents run as when the worker runs as root (default auto: each agent
                                       a uid/gid of its own from --agent-uid-range; NAME: every agent as that
                                       user; off: as root); their folders are 0700 and theirs. A worker not
                                       running as root runs agents as itself
          --agent-uid-range FIRST-LAST the ids auto gives agents, one each, reused only after the agent and
                                       its processes are gone (default 2000000-2065535)
          --probe-only                 print what the GPU probe reads (JSON) and exit
          --Worker:<Name>=VALUE        any other setting
          -h, --help                   print this help and exit
          --version                    print the version and exit

        Every setting can also come from the environment: SCHEDULER_Worker__<Name>.
        """;

    /// <summary>Flags that take no value.</summary>
    private static readonly string[] BareFlags = ["--probe-only", "--insecure"];

    /// <summary>
    /// Handles <c>--help</c>, <c>--version</c> and unknown flags; returns the exit code when the process
    /// should stop here, or null to go on and start the worker.
    /// </summary>
    public static int? Handle(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> switches, TextWriter output, TextWriter error) =>
        Hosting.HostCommandLine.Handle("Scheduler.Worker", "Worker", Help, args, switches, BareFlags, output, error);
}
