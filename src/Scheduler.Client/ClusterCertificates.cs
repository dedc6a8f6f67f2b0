using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Scheduler.Client;

/// <summary>What a cluster certificate is for: its subject is CN=ROLE:NAME and its extended key usages follow the role.</summary>
public enum ClusterRole
{
    /// <summary>A worker: server (transfer service) and client (to masters and peers); CN=node:NAME.</summary>
    Node,

    /// <summary>A master: server, and client towards other masters; CN=master:NAME.</summary>
    Master,

    /// <summary>A user or tool calling the API: client only; CN=client:NAME.</summary>
    Client,
}

/// <summary>
/// A cluster's own certificate authority (ECDSA P-256) and the certificates it issues to nodes, masters and
/// clients, written as PEM (NAME.crt, NAME.key with mode 0600, ca.crt). Every process trusts this CA only.
/// </summary>
public static partial class ClusterCertificates
{
    /// <summary>File names of the CA in a certificates folder.</summary>
    public const string CaCertificateFile = "ca.crt";

    /// <summary>The CA's private key file; whoever holds it can mint any identity.</summary>
    public const string CaKeyFile = "ca.key";

    /// <summary>Creates a self-signed CA valid from now (less five minutes of clock skew) for <paramref name="validity"/>.</summary>
    public static X509Certificate2 CreateAuthority(string name, TimeSpan validity, TimeProvider? time = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(name);
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = (time ?? TimeProvider.System).GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-5), now.Add(validity));
    }

    /// <summary>
    /// Issues CN=ROLE:<paramref name="name"/> signed by <paramref name="authority"/> (which must hold its key).
    /// Masters and nodes are servers too: their SAN holds localhost, 127.0.0.1 and <paramref name="subjectAlternativeNames"/>
    /// (IP addresses or DNS names), and their usages are serverAuth and clientAuth; a client's is clientAuth only.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not 1..200 letters, digits, '.', '_' or '-' (a node's may end "-*"), or a SAN is empty.</exception>
    public static X509Certificate2 Issue(X509Certificate2 authority, ClusterRole role, string name, IEnumerable<string> subjectAlternativeNames, TimeSpan validity, TimeProvider? time = null)
    {
        if (!ValidName().IsMatch(name) || (name.EndsWith('*') && role != ClusterRole.Node))
        {
            throw new ArgumentException($"'{name}' is not a certificate name: 1..200 letters, digits, '.', '_' or '-' (a node's may end in -* for a --simulate process)", nameof(name));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName($"{RoleName(role)}:{name}");
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        var usages = new OidCollection();
        if (role != ClusterRole.Client)
        {
            usages.Add(new Oid(ServerAuthOid));
        }

        usages.Add(new Oid(ClientAuthOid));

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var sans = Sans(role, subjectAlternativeNames);
        if (sans is not null)
        {
            request.CertificateExtensions.Add(sans);
        }

        var now = (time ?? TimeProvider.System).GetUtcNow();
        var notAfter = now.Add(validity) < authority.NotAfter.ToUniversalTime() ? now.Add(validity) : new DateTimeOffset(authority.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(authority, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>"node", "master" or "client": the part of the CN before the colon.</summary>
    public static string RoleName(ClusterRole role) => role switch
    {
        ClusterRole.Node => "node",
        ClusterRole.Master => "master",
        _ => "client",
    };

    /// <summary>Writes the certificate to <paramref name="certificatePath"/> and, when it has one, its private key to <paramref name="keyPath"/> (mode 0600), each file whole.</summary>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string? keyPath)
    {
        if (keyPath is not null)
        {
            var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
            using (key)
            {
                WriteWhole(keyPath, key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        WriteWhole(certificatePath, certificate.ExportCertificatePem(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    /// <summary>The CA with its private key, from ca.crt and ca.key in <paramref name="directory"/>.</summary>
    public static X509Certificate2 LoadAuthority(string directory) =>
        X509Certificate2.CreateFromPemFile(Path.Combine(directory, CaCertificateFile), Path.Combine(directory, CaKeyFile));

    /// <summary>A certificate and its key from PEM files.</summary>
    public static X509Certificate2 Load(string certificatePath, string keyPath) => X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

    /// <summary>A certificate (a CA's, say) from a PEM file, without key.</summary>
    public static X509Certificate2 LoadCertificate(string certificatePath) => X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));

    internal const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    internal const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private static X509Extension? Sans(ClusterRole role, IEnumerable<string> given)
    {
        var builder = new SubjectAlternativeNameBuilder();
        var any = false;
        if (role != ClusterRole.Client)
        {
            builder.AddDnsName("localhost");
            builder.AddIpAddress(IPAddress.Loopback);
            any = true;
        }

        foreach (var san in given)
        {
            var value = san.Trim();
            if (value.Length == 0)
            {
                throw new ArgumentException("an empty --san", nameof(given));
            }

            if (IPAddress.TryParse(value, out var ip))
            {
                builder.AddIpAddress(ip);
            }
            else
            {
                builder.AddDnsName(value);
            }

            any = true;
        }

        return any ? builder.Build() : null;
    }

    // Temporary file (created with its final mode, so a key is never readable by others), then renamed over.
    private static void WriteWhole(string path, string text, UnixFileMode mode)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Write('\n');
        }

        File.Move(temporary, path, overwrite: true);
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}(-\*)?$")]
    private static partial Regex ValidName();
}
