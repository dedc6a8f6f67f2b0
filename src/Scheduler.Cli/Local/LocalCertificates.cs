using System.Security.Cryptography.X509Certificates;
using Scheduler.Client;

namespace Scheduler.Cli.Local;

/// <summary>
/// The certificates of a local cluster (`up`, `demo`, benchmarks), in DIR/certs: a CA made on first use and
/// kept, a certificate per master and node issued as each starts, and schedctl's own client certificate
/// (client:schedctl), which schedctl finds there when it talks to this cluster.
/// </summary>
internal sealed class LocalCertificates
{
    public const string FolderName = "certs";
    public const string ClientName = "schedctl";

    private static readonly TimeSpan Validity = TimeSpan.FromDays(365);

    private readonly X509Certificate2 _authority;

    private LocalCertificates(string directory, X509Certificate2 authority)
    {
        Directory = directory;
        _authority = authority;
    }

    public string Directory { get; }

    public string CaPath => Path.Combine(Directory, ClusterCertificates.CaCertificateFile);

    /// <summary>The folder's CA, created when it has none.</summary>
    public static LocalCertificates Ensure(string clusterDirectory)
    {
        var directory = Path.Combine(clusterDirectory, FolderName);
        System.IO.Directory.CreateDirectory(directory);
        if (!File.Exists(Path.Combine(directory, ClusterCertificates.CaKeyFile)))
        {
            using var created = ClusterCertificates.CreateAuthority("scheduler local cluster CA", Validity * 10);
            ClusterCertificates.WritePem(created, Path.Combine(directory, ClusterCertificates.CaCertificateFile), Path.Combine(directory, ClusterCertificates.CaKeyFile));
        }

        var certificates = new LocalCertificates(directory, ClusterCertificates.LoadAuthority(directory));
        certificates.Issue(ClusterRole.Client, ClientName);
        return certificates;
    }

    /// <summary>Issues (again) ROLE:NAME into NAME.crt/NAME.key; returns the flags a master or worker takes them by.</summary>
    public string[] Issue(ClusterRole role, string name)
    {
        var file = ClusterCertificates.RoleName(role) + "-" + name.Replace('*', 'X');
        var cert = Path.Combine(Directory, file + ".crt");
        var key = Path.Combine(Directory, file + ".key");
        using var issued = ClusterCertificates.Issue(_authority, role, name, [], Validity);
        ClusterCertificates.WritePem(issued, cert, key);
        return ["--cert", cert, "--key", key, "--ca", CaPath];
    }

    /// <summary>What schedctl (or a command of it) needs to call this cluster's masters: the CA and client:schedctl.</summary>
    public SchedulerClientOptions ClientOptions(IReadOnlyList<Uri> addresses) => new()
    {
        Addresses = addresses,
        CaCertificate = ClusterCertificates.LoadCertificate(CaPath),
        ClientCertificate = ClusterCertificates.Load(ClientCertificatePath(Directory), ClientKeyPath(Directory)),
    };

    public static string ClientCertificatePath(string certificates) => Path.Combine(certificates, $"client-{ClientName}.crt");

    public static string ClientKeyPath(string certificates) => Path.Combine(certificates, $"client-{ClientName}.key");
}
