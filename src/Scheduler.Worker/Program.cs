using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Hosting;
using Scheduler.Worker;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Keeper;
using Scheduler.Worker.Telemetry;
using Scheduler.Worker.Transfer;

var switches = new Dictionary<string, string>
{
    ["--master"] = "Worker:Master",
    ["--token"] = "Worker:Token",
    ["--node-id"] = "Worker:NodeId",
    ["--data-dir"] = "Worker:DataDir",
    ["--gpu-probe"] = "Worker:GpuProbe",
    ["--gpus"] = "Worker:Gpus",
    ["--gpu-model"] = "Worker:GpuModel",
    ["--gpu-memory-mib"] = "Worker:GpuMemoryMib",
    ["--sim-gpu-topology"] = "Worker:SimGpuTopology",
    ["--cpu-millis"] = "Worker:CpuMillis",
    ["--memory-mib"] = "Worker:MemoryMib",
    ["--labels"] = "Worker:Labels",
    ["--simulate"] = "Worker:Simulate",
    ["--max-reconnect-delay-ms"] = "Worker:MaxReconnectDelayMs",
    ["--max-registrations-in-flight"] = "Worker:MaxRegistrationsInFlight",
    ["--stop-grace-ms"] = "Worker:StopGraceMs",
    ["--transfer-listen"] = "Worker:TransferListen",
    ["--metrics-listen"] = "Worker:MetricsListen",
    ["--otlp-endpoint"] = "Worker:OtlpEndpoint",
    ["--otlp-protocol"] = "Worker:OtlpProtocol",
    ["--agent-log-max-mib"] = "Worker:AgentLogMaxMib",
    ["--agent-retention-hours"] = "Worker:AgentRetentionHours",
    ["--cert"] = "Worker:Cert",
    ["--key"] = "Worker:Key",
    ["--ca"] = "Worker:Ca",
    ["--agent-user"] = "Worker:AgentUser",
    ["--agent-uid-range"] = "Worker:AgentUidRange",
};

if (args is [KeeperProcess.Verb, ..])
{
    return KeeperProcess.Run();
}

// Not in --help: a measurement for developers, and for `schedctl bench migration` later.
if (args is [TransferBenchmark.Verb, ..])
{
    return await TransferBenchmark.RunAsync(args[1..], Console.Out, CancellationToken.None);
}

if (CommandLine.Handle(args, switches, Console.Out, Console.Error) is { } exit)
{
    return exit;
}

// A bare flag reads as "true".
args = [.. args.Select(a => a switch
{
    "--probe-only" => "--Worker:ProbeOnly=true",
    "--insecure" => "--Worker:Insecure=true",
    _ => a,
})];

// A web host: besides the master link it serves checkpoint transfers to peer workers.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
builder.Configuration.AddEnvironmentVariables("SCHEDULER_");
builder.Configuration.AddCommandLine(args, switches);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
var configured = builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
ClusterTls? tls;
try
{
    // Printing what the probe sees needs no cluster.
    tls = configured.ProbeOnly ? null : ClusterTls.Load(ClusterTrust.NodeRole, configured.Cert, configured.Key, configured.Ca, configured.Insecure);
}
catch (InvalidOperationException ex)
{
    await Console.Error.WriteLineAsync($"error: {ex.Message}");
    return 2;
}

if (WorkerTlsDefaults.Refusal(configured, tls) is { } tlsRefusal)
{
    await Console.Error.WriteLineAsync($"error: {tlsRefusal}");
    return 2;
}

if (tls is not null)
{
    builder.Services.AddSingleton(tls);
}

builder.Services.AddOptions<WorkerOptions>()
    .Bind(builder.Configuration.GetSection(WorkerOptions.Section))
    .PostConfigure(o => WorkerTlsDefaults.Apply(o, tls))
    .ValidateDataAnnotations()
    .Validate(o => o.Master.Split(',', StringSplitOptions.RemoveEmptyEntries).All(m => Uri.TryCreate(m.Trim(), UriKind.Absolute, out _)), "Worker:Master must be one or more absolute URLs, e.g. http://127.0.0.1:7070")
    .Validate(o => o.NodeId.Length is > 0 and <= 253, "Worker:NodeId must be 1..253 characters")
    .Validate(o => IPEndPoint.TryParse(o.TransferListen, out _), "Worker:TransferListen must be HOST:PORT with an IP address, e.g. 127.0.0.1:0")
    .ValidateOnStart();
// Room for a graceful leave: agents' grace, the master's acknowledgements, closing the stream.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(
    (builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions()).StopGraceMs + 15_000));
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddHostedService<WorkerService>();

var options = configured;
WorkerTlsDefaults.Apply(options, tls);
if (!IPEndPoint.TryParse(options.TransferListen, out var transferListen))
{
    await Console.Error.WriteLineAsync($"error: --transfer-listen '{options.TransferListen}' is not HOST:PORT with an IP address, e.g. 127.0.0.1:0");
    return 2;
}

builder.WebHost.ConfigureKestrel(kestrel => TransferHosting.Listen(kestrel, transferListen, tls));

// Checked before anything starts: a worker that cannot run agents as the user asked for refuses to run them at all.
if (AgentUser.Resolve(options.AgentUser, Posix.EffectiveUserId, AgentLauncher.Supervised, AgentUser.Lookup) is { Error: { } agentUserError })
{
    await Console.Error.WriteLineAsync($"error: {agentUserError}");
    return 2;
}

if (AgentUidPool.ParseRange(options.AgentUidRange) is { Error: { } uidRangeError })
{
    await Console.Error.WriteLineAsync($"error: {uidRangeError}");
    return 2;
}

// After the transfer endpoint, which stays the first bound address (the one registered with the master).
var telemetry = new TelemetrySettings("scheduler-worker", options.NodeId, WorkerMetrics.MeterName, WorkerTracing.SourceName,
    options.MetricsListen, options.OtlpEndpoint, options.OtlpProtocol, options.DataDir);
if (HostTelemetry.Validate(telemetry) is { } telemetryError)
{
    await Console.Error.WriteLineAsync($"error: {telemetryError}");
    return 2;
}

var metricsEndpoint = builder.AddTelemetry(telemetry);
builder.Services.AddSingleton<WorkerMetrics>();
builder.Services.AddCheckpointTransfer(options.DataDir, new TransferLimits());
builder.Services.AddSingleton<TransferEndpoint>();
if (GpuProbeFactory.Refusal(options) is { } refusal)
{
    await Console.Error.WriteLineAsync($"error: {refusal}");
    return 1;
}

if (options.ProbeOnly)
{
    // Prints what the probe reads, for checking a host's NVML by hand.
    using var probe = GpuProbeFactory.Create(options, options.NodeId, NullLogger.Instance);
    var report = new
    {
        probe = probe.Kind,
        devices = probe.Devices.Select(d => new { d.Index, d.Uuid, d.Model, d.MemoryMib, d.NvlinkIsland, d.PcieSwitch, d.NumaNode, NvlinkPeers = d.NvlinkPeers.ToArray() }),
        topologyNote = (probe as NvmlGpuProbe)?.TopologyNote ?? "",
        telemetry = probe.Sample(new HashSet<string>()).Select(t => new
        {
            t.Index, t.Uuid, t.UtilizationPercent, t.MemoryUsedMib, t.MemoryTotalMib, t.TemperatureC, t.PowerMw, t.EccErrors,
        }),
    };
    Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
    return 0;
}

var app = builder.Build();
if (tls is null && !options.ProbeOnly)
{
    WorkerTlsDefaults.LogInsecure(app.Logger, options.Master, options.TransferListen);
}

app.MapMetrics(metricsEndpoint);
app.MapCheckpointTransfer();
try
{
    await app.RunAsync();
}
catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    var where = options.MetricsListen.Length > 0 ? $"{options.TransferListen} or --metrics-listen {options.MetricsListen}" : options.TransferListen;
    await Console.Error.WriteLineAsync($"error: cannot listen on {where}: address already in use; pick another --transfer-listen (port 0 picks a free one)");
    return 2;
}

return 0;
