using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Scheduler.Hosting;

/// <summary>
/// What every process of a cluster checks about a peer's certificate: it chains to the cluster CA and
/// nothing else (the system store is not consulted, so a certificate a public CA issued proves nothing
/// here), it is valid now, and it allows the use asked of it (serverAuth or clientAuth). The subject's
/// common name says who the peer is: "node:NAME", "master:NAME" or "client:NAME". Compiled into the
/// master, the worker and the client library.
/// </summary>
internal static class ClusterTrust
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    public const string NodeRole = "node";
    public const string MasterRole = "master";
    public const string ClientRole = "client";

    /// <summary>The cluster CA's certificate from a PEM file.</summary>
    public static X509Certificate2 LoadCa(string path) => X509Certificate2.CreateFromPem(File.ReadAllText(path));

    /// <summary>A certificate and its private key from PEM files (NAME.crt, NAME.key).</summary>
    public static X509Certificate2 LoadIdentity(string certPath, string keyPath) => X509Certificate2.CreateFromPemFile(certPath, keyPath);

    /// <summary>Null when <paramref name="certificate"/> chains to <paramref name="ca"/> and allows <paramref name="usage"/>; else why not.</summary>
    public static string? Verify(X509Certificate2 certificate, X509Certificate2 ca, string usage)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usage));
        if (!chain.Build(certificate))
        {
            var problems = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct();
            return $"certificate '{certificate.Subject}' is not trusted by the cluster CA: {string.Join("; ", problems)}";
        }

        var root = chain.ChainElements[^1].Certificate;
        return root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span)
            ? null
            : $"certificate '{certificate.Subject}' does not chain to the cluster CA";
    }

    /// <summary>The role and name in a cluster certificate's common name ("node:gpu-7" is node, gpu-7); null for any other subject.</summary>
    public static (string Role, string Name)? Identity(X509Certificate2 certificate)
    {
        var cn = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        var colon = cn.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon < cn.Length - 1 ? (cn[..colon], cn[(colon + 1)..]) : null;
    }

    /// <summary>
    /// Whether a node certificate named <paramref name="certificateName"/> may register as <paramref name="nodeId"/>:
    /// the same name, or for a certificate issued as "PREFIX-*" (one `--simulate` process hosting many nodes)
    /// any id PREFIX-SUFFIX.
    /// </summary>
    public static bool NodeMayBe(string certificateName, string nodeId) =>
        certificateName.EndsWith("-*", StringComparison.Ordinal)
            ? nodeId.Length > certificateName.Length - 1 && nodeId.StartsWith(certificateName[..^1], StringComparison.Ordinal)
            : string.Equals(certificateName, nodeId, StringComparison.Ordinal);

    /// <summary>
    /// Checks a server's certificate for a client: the host name it was dialled by is in its SAN, and it
    /// chains to <paramref name="ca"/> for serverAuth.
    /// </summary>
    public static RemoteCertificateValidationCallback ServerValidator(X509Certificate2 ca) =>
        (_, certificate, _, errors) =>
            certificate is not null
            && (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0
            && Verify(AsCertificate2(certificate), ca, ServerAuth) is null;

    /// <summary>TLS settings of a client channel: the server checked against <paramref name="ca"/>, and <paramref name="identity"/> presented when given.</summary>
    public static SslClientAuthenticationOptions ClientOptions(X509Certificate2 ca, X509Certificate2? identity) => new()
    {
        RemoteCertificateValidationCallback = ServerValidator(ca),
        ClientCertificates = identity is null ? null : new X509CertificateCollection { identity },
    };

    private static X509Certificate2 AsCertificate2(X509Certificate certificate) =>
        certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
}
