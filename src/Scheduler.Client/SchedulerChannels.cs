using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Scheduler.Hosting;

namespace Scheduler.Client;

/// <summary>Channels to one master as the client library makes them: HTTP/2, keep-alive pings, and TLS checked against the cluster CA.</summary>
public static class SchedulerChannels
{
    /// <summary>
    /// A channel to <paramref name="address"/> with <paramref name="options"/>' timeout and certificates: for https, the
    /// master's certificate must chain to <see cref="SchedulerClientOptions.CaCertificate"/> (when given) and name the host dialled.
    /// </summary>
    public static GrpcChannel ForAddress(Uri address, SchedulerClientOptions options) =>
        GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = options.Timeout,
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                SslOptions = Tls(options),
            },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxReceiveMessageBytes,
            MaxSendMessageSize = options.MaxSendMessageBytes,
        });

    private static SslClientAuthenticationOptions Tls(SchedulerClientOptions options) =>
        options.CaCertificate is { } ca
            ? ClusterTrust.ClientOptions(ca, options.ClientCertificate)
            : new SslClientAuthenticationOptions
            {
                ClientCertificates = options.ClientCertificate is { } own ? new X509CertificateCollection { own } : null,
            };
}
