namespace Scheduler.Master;

/// <summary>
/// What the master makes of its arguments before it builds a host: `--help` and `--version` print and
/// exit, and a flag it does not know is an error. Configuration binding ignores unknown keys, so without
/// this `--help` started a master and a mistyped `--lisen` started one on the default port.
/// </summary>
internal static class CommandLine
{
    private const string Help =
        """
        Scheduler.Master: the scheduler's master (gRPC on HTTP/2, SQLite store).

        Usage: Scheduler.Master [flags]

          --listen HOST:PORT              where to serve gRPC (default 127.0.0.1:7070; port 0 picks a free
                                          one, written to <data-dir>/master.addr)
          --data-dir DIR                  SQLite store and master.addr (default .scheduler/master)
          --master-id ID                  this master's name in leader information (default: host name)
          --heartbeat-interval-ms MS      told to workers at registration (default 1000)
          --dead-after-ms MS              a silent node is declared dead, its jobs requeued (default 10000)
          --placement-policy NAME         fgd-cpu (default), fgd-mem, best-fit, dot-product, spread, gpu-packing,
                                          gpu-clustering, random, fgd, frag-pack
          --queue-policy NAME             priority (default, with aging), fifo, sjf, drf
          --backfill true|false           EASY backfill behind a blocked head job (default true)
          --preempt-min-priority N        jobs at or above it may evict lower-priority work (default 500; 0 = off)
          --preempt-protected-priority N  jobs at or above it are never evicted (default 900)
          --aging-interval-s S            waiting this long adds one aging step to the priority (default 60)
          --stop-grace-ms MS              SIGTERM to SIGKILL when stopping an agent (default 5000)
          --max-request-bytes N           larger requests get RESOURCE_EXHAUSTED (default 1 MiB)
          --max-store-mib N               bound on the store's size; past it writes answer UNAVAILABLE (default none)
          --max-pending-submits N         submits waiting for the loop; past it RESOURCE_EXHAUSTED + retry-after-ms (default 10000)
          --rebalance MODE                off (default), max-load (lower the hottest node's load) or fragmentation
                                          (lower GPU fragmentation): live-migrate checkpointable jobs on a timer
          --rebalance-interval-s S        time between rebalancing runs (default 60)
          --rebalance-max-per-run N       migrations one run may start (default 2)
          --rebalance-max-in-flight N     no run starts one while this many migrations are under way (default 4)
          --job-retention-hours H         finished jobs are deleted this long after they finished (default 168; 0 keeps)
          --job-retention D               the same as a duration: 30s, 10m, 24h, 7d (0 keeps); wins over --job-retention-hours
          --request-id-window D           a job (and its request id) is kept at least this long after its submission,
                                          whatever the retention, so a retried submit never makes a second job (default 10m)
          --autoscale-interval-s S        how often the autoscaling signal is worked out (default 30; 0 turns it off)
          --autoscale-window-s S          hosts are advised away from the peak use over this window (default 600)
          --autoscale-spare-hosts N       idle hosts of each kind kept beyond that peak (default 1)
          --autoscale-webhook URL         POST each changed autoscaling signal as JSON to this URL (default none)
          --metrics-listen HOST:PORT      Prometheus scrape endpoint /metrics over HTTP/1.1 (default none; port 0 picks
                                          a free one, written to <data-dir>/metrics.addr)
          --otlp-endpoint URL             export metrics, traces and logs by OTLP to this collector (default: the
                                          OTEL_EXPORTER_OTLP_ENDPOINT variable, else none)
          --otlp-protocol grpc|http/protobuf
                                          OTLP transport (default grpc)
          --http-listen HOST:PORT         serve the read-only status page (HTTP/1.1) there (default off; port 0
                                          picks a free one, its URL written to <data-dir>/status.url)
          --auth                          require a bearer token (or a worker certificate) on every call and
                                          enforce the role table (default off: a warning is logged)
          --bootstrap-token-file FILE     an admin token stored (hashed) at start; a missing FILE is created
                                          with a fresh one (mode 0600)
          --rate-limit-rps N              requests per second per token with --auth (default 100; 0 = off)
          --rate-limit-burst N            requests a token may make at once (default 200)
          --max-streams-per-identity N    open watch/snapshot streams per token or certificate (default 16)
          --audit-file FILE               denials and token changes as JSON lines (default <data-dir>/audit.jsonl)
          --cert FILE --key FILE          this master's TLS certificate (CN=master:NAME) and key, PEM (schedctl certs issue --master)
          --ca FILE                       the cluster CA (PEM): a client certificate must chain to it, and a worker's
                                          (CN=node:NAME) names the only node id it may register
          --insecure                      plaintext gRPC without certificates (logs a warning; trusted networks only)
          --max-epoch-advance N           a registering worker may raise the epoch by at most N (default 1000000)
          --force-new-store               start empty on a folder whose database is missing, empty or corrupt
          --Master:<Name>=VALUE           any other setting, e.g. --Master:Quotas:team-a:GpuMilli=4000
          --Logging:LogLevel:<Category>=LEVEL
                                          log levels (ASP.NET Core and gRPC request logs default to Warning)
          -h, --help                      print this help and exit
          --version                       print the version and exit

        Every setting can also come from the environment: SCHEDULER_Master__<Name>.
        """;

    /// <summary>
    /// Handles <c>--help</c>, <c>--version</c> and unknown flags; returns the exit code when the process
    /// should stop here, or null to go on and start the master.
    /// </summary>
    public static int? Handle(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> switches, TextWriter output, TextWriter error) =>
        Hosting.HostCommandLine.Handle("Scheduler.Master", "Master", Help, args, switches, [], output, error);
}
