using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// How a host serves checkpoint transfers: Kestrel on one endpoint, HTTP/2 (over TLS unless the worker runs --insecure), with
/// flow-control windows large enough that a 1 MiB chunk is not throttled by the 64 KiB defaults.
/// Shared by the worker host, the tests and the benchmark so that all three measure the same thing.
/// </summary>
internal static class TransferHosting
{
    /// <summary>Serves transfers on <paramref name="endpoint"/>; with <paramref name="tls"/>, only to peers showing a node certificate of the cluster CA.</summary>
    public static void Listen(KestrelServerOptions kestrel, IPEndPoint endpoint, Scheduler.Hosting.ClusterTls? tls = null)
    {
        kestrel.Limits.MaxRequestBodySize = null;
        kestrel.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
        kestrel.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
        kestrel.Limits.Http2.MaxFrameSize = 1024 * 1024;
        kestrel.Listen(endpoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            tls?.Serve(listen, require: true, role: Scheduler.Hosting.ClusterTrust.NodeRole);
        });
    }

    public static void AddCheckpointTransfer(this IServiceCollection services, string dataDir, TransferLimits limits)
    {
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = limits.MaxMessageBytes;
            o.EnableDetailedErrors = true;
        });
        services.AddSingleton(limits);
        services.AddSingleton<IMemoryPoolFactory<byte>, TransferMemoryPoolFactory>();
        services.AddSingleton<TransferAuthorizations>();
        services.AddSingleton(sp => new IncomingMigrations(dataDir, sp.GetRequiredService<TransferLimits>()));
    }

    public static void MapCheckpointTransfer(this WebApplication app) => app.MapGrpcService<CheckpointTransferService>();

    /// <summary>The address peers should dial (host:port), once the server has bound its endpoint.</summary>
    public static string BoundAddress(IServer server)
    {
        var address = server.Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var uri = new Uri(address.Replace("[::]", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal));

        // A wildcard bind is no address a peer can dial: name this host instead.
        var host = uri.Host is "0.0.0.0" or "::" ? Environment.MachineName : uri.Host;
        return $"{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{uri.Port}";
    }
}
