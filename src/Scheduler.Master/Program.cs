using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Scheduler.Hosting;
using Scheduler.Master;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Services;
using Scheduler.Master.Store;
using Scheduler.Master.Telemetry;

var switches = new Dictionary<string, string>
{
    ["--listen"] = "Master:Listen",
    ["--data-dir"] = "Master:DataDir",
    ["--master-id"] = "Master:MasterId",
    ["--heartbeat-interval-ms"] = "Master:HeartbeatIntervalMs",
    ["--dead-after-ms"] = "Master:DeadAfterMs",
    ["--placement-policy"] = "Master:PlacementPolicy",
    ["--queue-policy"] = "Master:QueuePolicy",
    ["--backfill"] = "Master:Backfill",
    ["--preempt-min-priority"] = "Master:PreemptMinPriority",
    ["--preempt-protected-priority"] = "Master:PreemptProtectedPriority",
    ["--aging-interval-s"] = "Master:AgingIntervalSeconds",
    ["--stop-grace-ms"] = "Master:StopGraceMs",
    ["--max-request-bytes"] = "Master:MaxRequestBytes",
    ["--max-store-mib"] = "Master:MaxStoreMib",
    ["--max-pending-submits"] = "Master:MaxPendingSubmits",
    ["--etcd"] = "Master:Etcd",
    ["--etcd-prefix"] = "Master:EtcdPrefix",
    ["--advertise"] = "Master:Advertise",
    ["--lease-ttl-ms"] = "Master:LeaseTtlMs",
    ["--reconnect-window-ms"] = "Master:ReconnectWindowMs",
    ["--rebalance"] = "Master:Rebalance",
    ["--rebalance-interval-s"] = "Master:RebalanceIntervalSeconds",
    ["--rebalance-max-per-run"] = "Master:RebalanceMaxPerRun",
    ["--rebalance-max-in-flight"] = "Master:RebalanceMaxInFlight",
    ["--job-retention-hours"] = "Master:JobRetentionHours",
    ["--job-retention"] = "Master:JobRetention",
    ["--request-id-window"] = "Master:RequestIdWindow",
    ["--autoscale-interval-s"] = "Master:AutoscaleIntervalSeconds",
    ["--autoscale-window-s"] = "Master:AutoscaleWindowSeconds",
    ["--autoscale-spare-hosts"] = "Master:AutoscaleSpareHosts",
    ["--autoscale-webhook"] = "Master:AutoscaleWebhook",
    ["--metrics-listen"] = "Master:MetricsListen",
    ["--otlp-endpoint"] = "Master:OtlpEndpoint",
    ["--otlp-protocol"] = "Master:OtlpProtocol",
    ["--http-listen"] = "Master:HttpListen",
    ["--max-epoch-advance"] = "Master:MaxEpochAdvance",
    ["--bootstrap-token-file"] = "Master:Security:BootstrapTokenFile",
    ["--rate-limit-rps"] = "Master:Security:RateLimitPerSecond",
    ["--rate-limit-burst"] = "Master:Security:RateLimitBurst",
    ["--max-streams-per-identity"] = "Master:Security:MaxStreamsPerIdentity",
    ["--audit-file"] = "Master:Security:AuditFile",
    ["--cert"] = "Master:Cert",
    ["--key"] = "Master:Key",
    ["--ca"] = "Master:Ca",
};

// A bare flag reads as "true".
args = [.. args.Select(a => a switch
{
    "--force-new-store" => "--Master:ForceNewStore=true",
    "--auth" => "--Master:Security:Enabled=true",
    "--insecure" => "--Master:Insecure=true",
    _ => a,
})];

if (CommandLine.Handle(args, switches, Console.Out, Console.Error) is { } exit)
{
    return exit;
}

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
builder.Configuration.AddInMemoryCollection(LogDefaults.Configuration);
builder.Configuration.AddEnvironmentVariables("SCHEDULER_");
builder.Configuration.AddCommandLine(args, switches);
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});

builder.Services.AddOptions<MasterOptions>()
    .Bind(builder.Configuration.GetSection(MasterOptions.Section))
    .ValidateDataAnnotations()
    .Validate(o => Scheduler.Core.Placement.PlacementPolicies.Names.Contains(o.PlacementPolicy), "Master:PlacementPolicy names no known policy")
    .Validate(o => Scheduler.Core.Queueing.QueuePolicies.Names.Contains(o.QueuePolicy), "Master:QueuePolicy names no known policy (priority, fifo, sjf, drf)")
    .Validate(o => o.DeadAfterMs >= o.HeartbeatIntervalMs * 3, "Master:DeadAfterMs must be at least three heartbeat intervals (workers fence one interval before it)")
    .Validate(o => o.HeartbeatIntervalMs * o.SuspectAfterMissed < o.DeadAfterMs, "Master:SuspectAfterMissed heartbeats must pass before Master:DeadAfterMs")
    .Validate(o => o.AutoscaleWebhook.Length == 0 || Uri.TryCreate(o.AutoscaleWebhook, UriKind.Absolute, out var w) && w.Scheme is "http" or "https", "Master:AutoscaleWebhook (--autoscale-webhook) must be an http:// or https:// URL")
    .Validate(o => o.Advertise.Length == 0 || Uri.TryCreate(o.Advertise, UriKind.Absolute, out var u) && u.Scheme is "http" or "https", "Master:Advertise must be an http:// or https:// URL")
    .ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<MasterOptions>, RebalanceOptionsValidation>();
builder.Services.AddSingleton<IValidateOptions<MasterOptions>, JobRetention>();

var options = builder.Configuration.GetSection(MasterOptions.Section).Get<MasterOptions>() ?? new MasterOptions();

// Checked before the host starts, so a wrong value is one line per error (the host would log a stack first).
if (new IValidateOptions<MasterOptions>[] { new RebalanceOptionsValidation(), new JobRetention() }
        .SelectMany(v => v.Validate(null, options) is { Failed: true, Failures: { } f } ? f : []).ToList() is { Count: > 0 } optionErrors)
{
    foreach (var failure in optionErrors)
    {
        await Console.Error.WriteLineAsync($"error: {failure}");
    }

    return 2;
}

ClusterTls? tls;
try
{
    tls = ClusterTls.Load(ClusterTrust.MasterRole, options.Cert, options.Key, options.Ca, options.Insecure);
}
catch (InvalidOperationException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

if (tls is not null)
{
    builder.Services.AddSingleton(tls);
}

var (host, port) = ParseListen(options.Listen);
Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions? statusListen = null;
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(host, port, listen =>
    {
        listen.Protocols = HttpProtocols.Http2;

        // Clients may come without a certificate (their token says who they are); one that is presented must chain to the CA.
        tls?.Serve(listen, require: false);
    });
    if (options.HttpListen.Length > 0)
    {
        var (statusHost, statusPort) = ParseListen(options.HttpListen);
        kestrel.Listen(statusHost, statusPort, listen =>
        {
            Scheduler.Master.StatusPage.StatusEndpoint.Configure(listen);
            statusListen = listen;
        });
    }
});

var telemetry = new TelemetrySettings("scheduler-master", options.MasterId, MasterMetrics.MeterName, MasterTracing.SourceName,
    options.MetricsListen, options.OtlpEndpoint, options.OtlpProtocol, options.DataDir);
if (HostTelemetry.Validate(telemetry) is { } telemetryError)
{
    await Console.Error.WriteLineAsync($"error: {telemetryError}");
    return 2;
}

var metricsEndpoint = builder.AddTelemetry(telemetry);

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<MasterMetrics>();
builder.Services.AddSingleton<ClusterGauges>();
builder.Services.AddSingleton<MasterAddress>();

if (options.Etcd.Length > 0
    && FailoverBudget.Check(TimeSpan.FromMilliseconds(options.LeaseTtlMs), ElectionPoll, TimeSpan.FromMilliseconds(options.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(options.DeadAfterMs)) is { } budget)
{
    await Console.Error.WriteLineAsync($"error: {budget}");
    return 2;
}

// The folder is locked before the store is touched, and the store opened before the host starts:
// a refusal is one line and exit code 3, not a stack trace.
DataDirLock dataLock;
IStateStore store;
try
{
    dataLock = DataDirLock.Acquire(options.DataDir);
    store = options.Etcd.Length > 0
        ? await OpenEtcdAsync(options)
        : await SqliteStateStore.OpenAsync(options.DataDir, options.ForceNewStore, options.MaxStoreMib, CancellationToken.None);
    await Scheduler.Master.Security.MasterSecurity.AddAsync(builder, store, options, CancellationToken.None);
}
catch (StoreException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 3;
}

builder.Services.AddSingleton(dataLock);
builder.Services.AddSingleton(store);
if (store is EtcdStateStore)
{
    builder.Services.AddSingleton<ILeaderElection>(sp => new EtcdElection(
        new ElectionOptions
        {
            Endpoints = options.Etcd,
            Prefix = options.EtcdPrefix,
            MasterId = options.MasterId,
            LeaseTtl = TimeSpan.FromMilliseconds(options.LeaseTtlMs),
            PollInterval = ElectionPoll,
            BudgetCheck = granted => FailoverBudget.Check(granted, ElectionPoll, TimeSpan.FromMilliseconds(options.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(options.DeadAfterMs)),
        },
        () => sp.GetRequiredService<MasterAddress>().Url ?? "",
        sp.GetRequiredService<ILogger<EtcdElection>>()));
}
else
{
    builder.Services.AddSingleton<ILeaderElection, SingleMasterElection>();
}

builder.Services.AddSingleton<MasterRole>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<MasterRole>());
builder.Services.AddGrpc(grpc =>
{
    grpc.MaxReceiveMessageSize = options.MaxRequestBytes;
    grpc.EnableDetailedErrors = false;
    grpc.Interceptors.Add<Scheduler.Master.Security.AuthInterceptor>();
    grpc.Interceptors.Add<StatusDetailLimit>();
});
builder.Services.AddGrpcHealthChecks().AddCheck<LeaderHealthCheck>("scheduler");
builder.Services.AddGrpcReflection();

var app = builder.Build();
if (tls is null)
{
    TlsLog.Insecure(app.Logger, options.Listen);
}

Scheduler.Master.Security.HttpAccessGate.Use(app, metricsEndpoint);
app.MapMetrics(metricsEndpoint);
app.Services.GetRequiredService<ClusterGauges>();
app.MapGrpcService<JobsService>();
app.MapGrpcService<AdminService>();
app.MapGrpcService<WorkerGatewayService>();
app.MapGrpcHealthChecksService();
app.MapGrpcReflectionService();
Scheduler.Master.StatusPage.StatusEndpoint.Map(app);

app.Lifetime.ApplicationStarted.Register(() =>
{
    var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
    var url = addresses.Addresses.First(a => metricsEndpoint is null || !a.EndsWith($":{metricsEndpoint.Port}", StringComparison.Ordinal))
        .Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
    var o = app.Services.GetRequiredService<IOptions<MasterOptions>>().Value;
    app.Services.GetRequiredService<MasterAddress>().Url = o.Advertise.Length > 0 ? o.Advertise : url;

    // Written atomically so a reader never sees half an address: tools and tests wait for this file.
    var file = Path.Combine(o.DataDir, "master.addr");
    File.WriteAllText(file + ".tmp", url);
    File.Move(file + ".tmp", file, overwrite: true);
    Console.WriteLine(o.Etcd.Length > 0
        ? $"master {o.MasterId} listening on {url} (store etcd {o.Etcd} prefix {o.EtcdPrefix}; data {Path.GetFullPath(o.DataDir)})"
        : $"master listening on {url} (data {Path.GetFullPath(o.DataDir)})");
    if (statusListen is not null)
    {
        Scheduler.Master.StatusPage.StatusEndpoint.Announce(statusListen, o.DataDir);
    }
});

try
{
    await app.RunAsync();
}
catch (StoreException ex)
{
    // A store that cannot be loaded (a corrupt row): say which, do not crash.
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 3;
}
catch (OptionsValidationException ex)
{
    // A setting that does not hold (a flag's value, or two flags against each other): say which, no stack trace.
    foreach (var failure in ex.Failures)
    {
        await Console.Error.WriteLineAsync($"error: {failure}");
    }

    return 2;
}
catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    var where = options.MetricsListen.Length > 0 ? $"{options.Listen} or --metrics-listen {options.MetricsListen}" : options.Listen;
    await Console.Error.WriteLineAsync($"error: cannot listen on {where}: address already in use; stop what holds it, or pick another --listen (port 0 picks a free one)");
    return 2;
}
finally
{
    // Registered as an instance, so the container does not own it: closing it checkpoints the log.
    await store.DisposeAsync();
    dataLock.Dispose();
}

return 0;

// Opens the etcd store, waiting a bounded time for etcd to answer (masters may start before it).
static async Task<IStateStore> OpenEtcdAsync(MasterOptions options)
{
    var etcd = new EtcdStoreOptions { Endpoints = options.Etcd, Prefix = options.EtcdPrefix };
    var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
    while (true)
    {
        try
        {
            return await EtcdStateStore.OpenAsync(etcd, CancellationToken.None);
        }
        catch (StoreUnavailableException ex) when (DateTime.UtcNow < deadline)
        {
            await Console.Error.WriteLineAsync($"waiting for etcd: {ex.Message}");
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }
}

static (System.Net.IPAddress Host, int Port) ParseListen(string listen)
{
    var colon = listen.LastIndexOf(':');
    if (colon <= 0 || !int.TryParse(listen.AsSpan(colon + 1), out var port) || port is < 0 or > 65535)
    {
        throw new OptionsValidationException(MasterOptions.Section, typeof(MasterOptions),
            [$"Master:Listen must be host:port (got '{listen}')"]);
    }

    var hostPart = listen[..colon].Trim('[', ']');
    var host = hostPart == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(hostPart);
    return (host, port);
}

/// <summary>The master's entry point and its constants.</summary>
internal sealed partial class Program
{
    /// <summary>How often a standby reads the leader key: part of every failover.</summary>
    private static readonly TimeSpan ElectionPoll = TimeSpan.FromMilliseconds(100);
}

/// <summary>What the master says about its transport security at start.</summary>
internal static partial class TlsLog
{
    [LoggerMessage(1, LogLevel.Warning, "--insecure: gRPC on {Listen} is plaintext and unauthenticated: anyone who reaches the port can register a worker or submit a job; use TLS (schedctl certs) outside a trusted network")]
    public static partial void Insecure(ILogger logger, string listen);
}
