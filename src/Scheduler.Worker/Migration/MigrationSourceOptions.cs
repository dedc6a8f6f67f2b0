using Grpc.Net.Client;
using Scheduler.Hosting;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>How long a migration's source waits for each part before it gives up (and how it sends).</summary>
internal sealed record MigrationSourceOptions
{
    /// <summary>The whole migration, every round included.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>One round: its checkpoint and its transfer (and for the last one, the commit).</summary>
    public TimeSpan RoundTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>The agent's answer to one checkpoint request.</summary>
    public TimeSpan CheckpointTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Dialling the target: an address nobody answers at fails the migration this soon.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>After the kill, how long the report waits for the agent's exit to be reported first.</summary>
    public TimeSpan ExitWait { get; init; } = TimeSpan.FromSeconds(10);

    public CheckpointSenderOptions Sender { get; init; } = new();

    /// <summary>This worker's certificate and the cluster CA; null with --insecure (cleartext to peers).</summary>
    public ClusterTls? Tls { get; init; }

    /// <summary>
    /// A channel to a target's transfer service, dialled within <see cref="ConnectTimeout"/>. With TLS the
    /// target must show a certificate of the cluster CA for the address dialled, and sees this node's.
    /// </summary>
    public GrpcChannel OpenChannel(Uri target) => GrpcChannel.ForAddress(
        Tls is null ? target : new UriBuilder(target) { Scheme = Uri.UriSchemeHttps }.Uri,
        new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = ConnectTimeout,
                EnableMultipleHttp2Connections = true,
                SslOptions = Tls?.ClientOptions() ?? new System.Net.Security.SslClientAuthenticationOptions(),
            },
        });
}
