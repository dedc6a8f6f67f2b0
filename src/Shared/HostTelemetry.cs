using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Scheduler.Hosting;

/// <summary>What a host exports and where: its meter and activity source, the scrape address, the OTLP collector.</summary>
internal sealed record TelemetrySettings(
    string ServiceName,
    string InstanceId,
    string MeterName,
    string SourceName,
    string MetricsListen,
    string OtlpEndpoint,
    string OtlpProtocol,
    string DataDir);

/// <summary>
/// OpenTelemetry for a host (master or worker): a Prometheus scrape endpoint on its own HTTP/1.1
/// listener (the gRPC ports are HTTP/2 only, which Prometheus cannot scrape), and OTLP export of
/// metrics, traces and logs when a collector is configured. Nothing is registered when neither is
/// asked for, so an unobserved host pays nothing: with no listener an ActivitySource starts no
/// activity. Compiled into each host: they share no other assembly.
/// </summary>
internal static class HostTelemetry
{
    public const string MetricsPath = "/metrics";

    /// <summary>Written to the data folder once the scrape endpoint is bound (port 0 picks one): tools and tests read it.</summary>
    public const string AddressFile = "metrics.addr";

    private const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>A line naming the flag that is wrong, or null when the settings hold.</summary>
    public static string? Validate(TelemetrySettings settings)
    {
        if (settings.MetricsListen.Length > 0 && !IPEndPoint.TryParse(settings.MetricsListen, out _))
        {
            return $"--metrics-listen '{settings.MetricsListen}' is not HOST:PORT with an IP address, e.g. 127.0.0.1:9464";
        }

        if (settings.OtlpEndpoint.Length > 0
            && !(Uri.TryCreate(settings.OtlpEndpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
        {
            return $"--otlp-endpoint '{settings.OtlpEndpoint}' is not an http:// or https:// URL, e.g. http://127.0.0.1:4317";
        }

        return ParseProtocol(settings.OtlpProtocol) is null
            ? $"--otlp-protocol '{settings.OtlpProtocol}' is neither grpc nor http/protobuf"
            : null;
    }

    /// <summary>
    /// Registers the exporters the settings ask for; returns the scrape endpoint to map with
    /// <see cref="MapMetrics"/>, or null when there is none.
    /// </summary>
    public static MetricsEndpoint? AddTelemetry(this WebApplicationBuilder builder, TelemetrySettings settings)
    {
        var otlp = settings.OtlpEndpoint.Length > 0 || Environment.GetEnvironmentVariable(OtlpEndpointVariable) is { Length: > 0 };
        var scrape = settings.MetricsListen.Length > 0 ? new MetricsEndpoint(IPEndPoint.Parse(settings.MetricsListen)) : null;
        if (!otlp && scrape is null)
        {
            return null;
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName, serviceInstanceId: settings.InstanceId))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(settings.MeterName);

                // The runtime's own meter: GC heap size after the last collection, committed memory, pauses
                // (dotnet_gc_*), so memory can be told apart from RSS from outside the process.
                metrics.AddMeter("System.Runtime");
                if (scrape is not null)
                {
                    metrics.AddPrometheusExporter();
                }
            });

        if (otlp)
        {
            // Traces only where they go somewhere: unexported spans would cost the loop for nothing.
            telemetry.WithTracing(tracing => tracing.AddSource(settings.SourceName));
            if (settings.OtlpEndpoint.Length > 0)
            {
                // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: http/protobuf appends /v1/traces etc.
                telemetry.UseOtlpExporter(ParseProtocol(settings.OtlpProtocol)!.Value, new Uri(settings.OtlpEndpoint));
            }
            else
            {
                // Reads the standard OTEL_EXPORTER_OTLP_* variables itself.
                telemetry.UseOtlpExporter();
            }
        }

        if (scrape is not null)
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(scrape.Requested, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                scrape.Listen = listen;
            }));
            builder.Services.AddHostedService(sp => new MetricsAddressWriter(scrape, settings.DataDir, sp.GetRequiredService<IHostApplicationLifetime>()));
        }

        return scrape;
    }

    /// <summary>Serves /metrics on the scrape listener only; the gRPC ports never answer it.</summary>
    public static void MapMetrics(this WebApplication app, MetricsEndpoint? endpoint)
    {
        if (endpoint is not null)
        {
            app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
                context.Request.Path == MetricsPath && context.Connection.LocalPort == endpoint.Port);
        }
    }

    private static OtlpExportProtocol? ParseProtocol(string protocol) => protocol switch
    {
        "" or "grpc" => OtlpExportProtocol.Grpc,
        "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
        _ => null,
    };

    /// <summary>Writes the bound scrape address to the data folder once the server listens, atomically.</summary>
    private sealed class MetricsAddressWriter(MetricsEndpoint endpoint, string dataDir, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                Directory.CreateDirectory(dataDir);
                var file = Path.Combine(dataDir, AddressFile);
                File.WriteAllText(file + ".tmp", endpoint.Url);
                File.Move(file + ".tmp", file, overwrite: true);
                Console.WriteLine($"metrics on {endpoint.Url}{MetricsPath}");
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The Prometheus scrape listener: asked for as HOST:PORT, its port known once Kestrel has bound it.</summary>
internal sealed class MetricsEndpoint(IPEndPoint requested)
{
    public IPEndPoint Requested { get; } = requested;

    /// <summary>Kestrel's options for the listener; it writes the bound endpoint back into them.</summary>
    internal ListenOptions? Listen { get; set; }

    public int Port => Listen?.IPEndPoint?.Port ?? Requested.Port;

    public string Url => $"http://{new IPEndPoint(Requested.Address.Equals(IPAddress.Any) ? IPAddress.Loopback : Requested.Address, Port)}";
}
