using Scheduler.Hosting;

namespace Scheduler.Worker;

/// <summary>
/// What TLS changes in a worker's settings: the default master URL's scheme, and the node id, which
/// comes from the certificate (CN=node:NAME) rather than from what the worker says about itself.
/// </summary>
internal static partial class WorkerTlsDefaults
{
    private const string LocalMaster = "127.0.0.1:7070";

    /// <summary>Fills what was left empty: the master URL, and the node id from the certificate (the host name with --insecure).</summary>
    public static void Apply(WorkerOptions options, ClusterTls? tls)
    {
        if (options.Master.Length == 0)
        {
            options.Master = (tls is null ? "http://" : "https://") + LocalMaster;
        }

        if (options.NodeId.Length == 0)
        {
            options.NodeId = tls is null ? Environment.MachineName
                : tls.Name.EndsWith("-*", StringComparison.Ordinal) ? tls.Name[..^2]
                : tls.Name;
        }
    }

    /// <summary>One line saying why these settings cannot work together; null when they can.</summary>
    public static string? Refusal(WorkerOptions configured, ClusterTls? tls)
    {
        var scheme = tls is null ? "http" : "https";
        foreach (var master in configured.Master.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Uri.TryCreate(master, UriKind.Absolute, out var uri) && uri.Scheme != scheme)
            {
                return tls is null
                    ? $"--master {master}: with --insecure the worker speaks plaintext, so the URL must start http://"
                    : $"--master {master}: the worker speaks TLS, so the URL must start https:// (or give --insecure on master and workers)";
            }
        }

        if (tls is null)
        {
            return null;
        }

        var nodeId = configured.NodeId.Length > 0 ? configured.NodeId : tls.Name.EndsWith("-*", StringComparison.Ordinal) ? tls.Name[..^2] : tls.Name;
        var registered = configured.Simulate > 0 ? $"{nodeId}-000" : nodeId;
        return ClusterTrust.NodeMayBe(tls.Name, registered)
            ? null
            : $"--node-id {registered} is not the node this worker's certificate names (node:{tls.Name}); the master would refuse it";
    }

    [LoggerMessage(1, LogLevel.Warning, "--insecure: the link to {Master} and checkpoint transfers on {TransferListen} are plaintext and unauthenticated; use TLS (schedctl certs) outside a trusted network")]
    public static partial void LogInsecure(ILogger logger, string master, string transferListen);
}
