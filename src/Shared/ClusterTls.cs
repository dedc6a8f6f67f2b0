using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Scheduler.Hosting;

/// <summary>
/// A host's TLS material: its own certificate (with key) and the cluster CA that every peer must chain
/// to. Serves Kestrel endpoints and dials peers with the same two. Compiled into the master and the worker.
/// </summary>
internal sealed class ClusterTls
{
    private ClusterTls(X509Certificate2 identity, X509Certificate2 ca, string name)
    {
        Identity = identity;
        Ca = ca;
        Name = name;
    }

    public X509Certificate2 Identity { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>The NAME of this host's "role:NAME" common name.</summary>
    public string Name { get; }

    /// <summary>
    /// What a host's flags ask for: TLS from its files, or null with <paramref name="insecure"/>. Throws
    /// <see cref="InvalidOperationException"/> with one line to print when the files are missing, unreadable,
    /// not issued by the CA, or not a certificate of <paramref name="role"/>.
    /// </summary>
    public static ClusterTls? Load(string role, string cert, string key, string ca, bool insecure)
    {
        if (insecure)
        {
            return cert.Length > 0 || key.Length > 0 || ca.Length > 0
                ? throw new InvalidOperationException("--insecure turns TLS off: give it without --cert, --key and --ca")
                : null;
        }

        if (cert.Length == 0 || key.Length == 0 || ca.Length == 0)
        {
            throw new InvalidOperationException(
                $"TLS needs --cert, --key and --ca (create them with `schedctl certs init` and `schedctl certs issue --{role} NAME`), or --insecure for plaintext");
        }

        X509Certificate2 identity;
        X509Certificate2 authority;
        try
        {
            authority = ClusterTrust.LoadCa(ca);
            identity = ClusterTrust.LoadIdentity(cert, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException($"cannot load TLS files ({cert}, {key}, {ca}): {ex.Message}", ex);
        }

        if (ClusterTrust.Verify(identity, authority, ClusterTrust.ServerAuth) is { } problem)
        {
            throw new InvalidOperationException($"--cert {cert}: {problem}");
        }

        return ClusterTrust.Identity(identity) is ({ } r, { } name) && r == role
            ? new ClusterTls(identity, authority, name)
            : throw new InvalidOperationException($"--cert {cert}: its subject must be CN={role}:NAME (got '{identity.Subject}'); issue one with `schedctl certs issue --{role} NAME`");
    }

    /// <summary>
    /// Serves HTTPS on <paramref name="listen"/> with this host's certificate. A client certificate is
    /// checked against the cluster CA when presented; <paramref name="require"/> refuses a handshake without one,
    /// and <paramref name="role"/> one whose CN is not "ROLE:NAME".
    /// </summary>
    public void Serve(ListenOptions listen, bool require, string? role = null) =>
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = Identity,
            ClientCertificateMode = require ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate,
            ClientCertificateValidation = (certificate, _, _) =>
                ClusterTrust.Verify(certificate, Ca, ClusterTrust.ClientAuth) is null
                && (role is null || ClusterTrust.Identity(certificate)?.Role == role),
        });

    /// <summary>TLS for a channel this host dials: the server checked against the CA, this host's certificate presented.</summary>
    public System.Net.Security.SslClientAuthenticationOptions ClientOptions() => ClusterTrust.ClientOptions(Ca, Identity);

    /// <summary>The verified cluster identity of the peer on <paramref name="context"/>'s connection; null without a client certificate.</summary>
    public static (string Role, string Name)? Peer(HttpContext context) =>
        context.Connection.ClientCertificate is { } certificate ? ClusterTrust.Identity(certificate) : null;
}
