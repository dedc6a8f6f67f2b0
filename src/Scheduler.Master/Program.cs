using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Scheduler.Master;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Services;
using Scheduler.Master.Store;

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
};

// A bare flag reads as "true".
args = [.. args.Select(a => a == "--force-new-store" ? "--Master:ForceNewStore=true" : a)];

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
    .ValidateOnStart();

var options = builder.Configuration.GetSection(MasterOptions.Section).Get<MasterOptions>() ?? new MasterOptions();
var (host, port) = ParseListen(options.Listen);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(host, port, listen => listen.Protocols = HttpProtocols.Http2);
});

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<MasterMetrics>();
builder.Services.AddSingleton<MasterAddress>();

// The folder is locked before the store is touched, and the store opened before the host starts:
// a refusal is one line and exit code 3, not a stack trace.
DataDirLock dataLock;
SqliteStateStore store;
try
{
    dataLock = DataDirLock.Acquire(options.DataDir);
    store = await SqliteStateStore.OpenAsync(options.DataDir, options.ForceNewStore, options.MaxStoreMib, CancellationToken.None);
}
catch (StoreException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 3;
}

builder.Services.AddSingleton(dataLock);
builder.Services.AddSingleton<IStateStore>(store);
builder.Services.AddSingleton<SchedulerLoop>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<SchedulerLoop>());
builder.Services.AddGrpc(grpc =>
{
    grpc.MaxReceiveMessageSize = options.MaxRequestBytes;
    grpc.EnableDetailedErrors = false;
});
builder.Services.AddGrpcHealthChecks().AddCheck("scheduler", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());
builder.Services.AddGrpcReflection();

var app = builder.Build();
app.MapGrpcService<JobsService>();
app.MapGrpcService<AdminService>();
app.MapGrpcService<WorkerGatewayService>();
app.MapGrpcHealthChecksService();
app.MapGrpcReflectionService();

app.Lifetime.ApplicationStarted.Register(() =>
{
    var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
    var url = addresses.Addresses.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal);
    app.Services.GetRequiredService<MasterAddress>().Url = url;
    var o = app.Services.GetRequiredService<IOptions<MasterOptions>>().Value;

    // Written atomically so a reader never sees half an address: tools and tests wait for this file.
    var file = Path.Combine(o.DataDir, "master.addr");
    File.WriteAllText(file + ".tmp", url);
    File.Move(file + ".tmp", file, overwrite: true);
    Console.WriteLine($"master listening on {url} (data {Path.GetFullPath(o.DataDir)})");
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
catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    await Console.Error.WriteLineAsync($"error: cannot listen on {options.Listen}: address already in use; stop what holds it, or pick another --listen (port 0 picks a free one)");
    return 2;
}
finally
{
    // Registered as an instance, so the container does not own it: closing it checkpoints the log.
    await store.DisposeAsync();
    dataLock.Dispose();
}

return 0;

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
