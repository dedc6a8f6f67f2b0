using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Scheduler.Hosting;

namespace Scheduler.Client;

/// <summary>
/// Turns a failed TLS handshake with a master (gRPC reports it as INTERNAL with the socket layer's
/// text) into UNAVAILABLE with a message that says it is a certificate problem, which one when it
/// can tell (it looks at the master's certificate once more, trusting nothing), and what to check.
/// </summary>
internal static class TlsFailure
{
    /// <summary>What to check, for every TLS failure.</summary>
    public const string Checklist =
        "check that --ca (SCHEDULER_CA, SchedulerClientOptions.CaCertificate) is the CA of this cluster, that the master's certificate names the host you dial (schedctl certs issue --master NAME --san HOST), that no certificate has expired, and that a client certificate (--cert/--key) was issued by the cluster's CA";

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>True when the call failed in the TLS handshake (this side refused the master's certificate).</summary>
    public static bool Is(RpcException error) =>
        error.StatusCode is StatusCode.Internal or StatusCode.Unavailable && Chain(error).Any(e => e is AuthenticationException);

    /// <summary>
    /// True when the call may have failed on a certificate the master refused: with TLS 1.3 the client's
    /// handshake completes before the server checks the client's certificate, so the refusal shows only
    /// as a connection closed before HTTP/2 started.
    /// </summary>
    public static bool Maybe(RpcException error, Uri address) =>
        address.Scheme == Uri.UriSchemeHttps
        && error.StatusCode is StatusCode.Internal or StatusCode.Unavailable
        && Chain(error).Any(e => e is HttpRequestException && e.Message.Contains("HTTP/2 handshake", StringComparison.Ordinal));

    /// <summary>
    /// The UNAVAILABLE error to give the caller instead of <paramref name="error"/>; null when the failure
    /// only <see cref="Maybe"/> was a certificate problem and the certificates show none.
    /// </summary>
    public static async Task<RpcException?> DescribeAsync(RpcException error, Uri address, X509Certificate2? ca, X509Certificate2? client, TimeProvider time, CancellationToken cancellationToken)
    {
        var diagnosis = await DiagnoseAsync(address, ca, client, time, cancellationToken);
        if (diagnosis is null && !Is(error))
        {
            return null;
        }

        var reason = diagnosis ?? Innermost(error);
        var master = address.GetComponents(UriComponents.SchemeAndServer, UriFormat.Unescaped);
        return new RpcException(new Status(StatusCode.Unavailable, $"TLS handshake with {master} failed (a certificate problem, not retried): {reason}; {Checklist}", error.Status.DebugException));
    }

    /// <summary>Why the master's certificate is refused here, or why ours may be refused there; null when it cannot tell.</summary>
    private static async Task<string?> DiagnoseAsync(Uri address, X509Certificate2? ca, X509Certificate2? client, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        X509Certificate2? served = null;
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(address.Host, address.Port, timeout.Token);
            await using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = address.Host,
                    // Reads the certificate and refuses it: the probe sends nothing, it only looks.
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    {
                        served = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                        return false;
                    },
                },
                timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or OperationCanceledException)
        {
            if (served is null)
            {
                return null;
            }
        }

        if (served is null)
        {
            return null;
        }

        using (served)
        {
            var subject = served.Subject;
            var now = time.GetUtcNow();
            if (served.NotAfter.ToUniversalTime() < now.UtcDateTime || served.NotBefore.ToUniversalTime() > now.UtcDateTime)
            {
                return $"the master's certificate '{subject}' is valid only from {served.NotBefore.ToUniversalTime():u} to {served.NotAfter.ToUniversalTime():u}";
            }

            if (!served.MatchesHostname(address.Host))
            {
                return $"the master's certificate '{subject}' does not name the host dialled, '{address.Host}' (give a name it was issued for)";
            }

            if (ca is null)
            {
                return $"the master's certificate '{subject}' (issuer '{served.Issuer}') is not trusted by this machine's root store; give the cluster's CA";
            }

            if (ClusterTrust.Verify(served, ca, ClusterTrust.ServerAuth) is { } untrusted)
            {
                return $"the master's {untrusted} (the master's certificate was issued by '{served.Issuer}', the CA given is '{ca.Subject}')";
            }
        }

        if (client is null)
        {
            return null;
        }

        if (client.NotAfter.ToUniversalTime() < time.GetUtcNow().UtcDateTime)
        {
            return $"the master refuses this client's certificate '{client.Subject}': it expired on {client.NotAfter.ToUniversalTime():u}";
        }

        return ca is not null && ClusterTrust.Verify(client, ca, ClusterTrust.ClientAuth) is { } refused
            ? $"the master refuses this client's certificate: {refused} (it was issued by '{client.Issuer}')"
            : null;
    }

    private static IEnumerable<Exception> Chain(RpcException error)
    {
        for (var e = error.Status.DebugException; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    private static string Innermost(RpcException error)
    {
        var inner = error.Status.DebugException;
        while (inner?.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner?.Message ?? error.Status.Detail;
    }
}
