using System.Collections.Concurrent;
using Grpc.Net.Client;
using Scheduler.Client;

namespace Scheduler.Tests.Common;

/// <summary>
/// The test run's cluster CA (made once per test process, in its temp folder) and the certificates fixtures
/// hand to masters (master:test), workers (node:ID) and clients (client:tests): test clusters run TLS as
/// deployed ones do. Tests that need a stranger's CA make their own with <see cref="ClusterCertificates"/>.
/// </summary>
public static class TestCertificates
{
    private static readonly Lazy<(string Directory, System.Security.Cryptography.X509Certificates.X509Certificate2 Authority)> Ca = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"certs-{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
        System.IO.Directory.CreateDirectory(directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        using (var created = ClusterCertificates.CreateAuthority("scheduler tests CA", TimeSpan.FromDays(2)))
        {
            ClusterCertificates.WritePem(created, Path.Combine(directory, ClusterCertificates.CaCertificateFile), Path.Combine(directory, ClusterCertificates.CaKeyFile));
        }

        return (directory, ClusterCertificates.LoadAuthority(directory));
    });

    private static readonly ConcurrentDictionary<(ClusterRole, string), Lazy<(string Cert, string Key)>> Issued = new();

    /// <summary>The folder holding ca.crt, ca.key and every issued ROLE-NAME.crt/.key.</summary>
    public static string Directory => Ca.Value.Directory;

    public static string CaPath => Path.Combine(Ca.Value.Directory, ClusterCertificates.CaCertificateFile);

    /// <summary>ROLE:NAME's certificate and key files, issued on first use.</summary>
    public static (string Cert, string Key) Files(ClusterRole role, string name) =>
        Issued.GetOrAdd((role, name), key => new Lazy<(string, string)>(() =>
        {
            var file = Path.Combine(Ca.Value.Directory, $"{ClusterCertificates.RoleName(key.Item1)}-{key.Item2.Replace('*', 'X')}");
            using var issued = ClusterCertificates.Issue(Ca.Value.Authority, key.Item1, key.Item2, [], TimeSpan.FromDays(1));
            ClusterCertificates.WritePem(issued, file + ".crt", file + ".key");
            return (file + ".crt", file + ".key");
        })).Value;

    /// <summary>The flags a master or worker takes its certificate by: --cert, --key, --ca.</summary>
    public static string[] Args(ClusterRole role, string name)
    {
        var (cert, key) = Files(role, name);
        return ["--cert", cert, "--key", key, "--ca", CaPath];
    }

    /// <summary>schedctl's environment for a TLS cluster: the CA and client:tests.</summary>
    public static Dictionary<string, string?> SchedctlEnvironment()
    {
        var (cert, key) = Files(ClusterRole.Client, "tests");
        return new Dictionary<string, string?> { ["SCHEDULER_CA"] = CaPath, ["SCHEDULER_CERT"] = cert, ["SCHEDULER_KEY"] = key };
    }

    /// <summary>Client settings for these masters: the CA, and client:tests as client certificate.</summary>
    public static SchedulerClientOptions ClientOptions(IReadOnlyList<Uri> addresses, TimeSpan? timeout = null, TimeSpan? retryBudget = null)
    {
        var (cert, key) = Files(ClusterRole.Client, "tests");
        var defaults = new SchedulerClientOptions();
        return new SchedulerClientOptions
        {
            Addresses = addresses,
            CaCertificate = ClusterCertificates.LoadCertificate(CaPath),
            ClientCertificate = ClusterCertificates.Load(cert, key),
            Timeout = timeout ?? defaults.Timeout,
            RetryBudget = retryBudget ?? defaults.RetryBudget,
        };
    }

    /// <summary>A raw channel to one master: TLS against the test CA for https://, plaintext for http://.</summary>
    public static GrpcChannel Channel(string url) =>
        url.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            ? SchedulerChannels.ForAddress(new Uri(url), ClientOptions([new Uri(url)]))
            : GrpcChannel.ForAddress(url);

    /// <summary>
    /// A raw TLS channel to <paramref name="url"/> presenting ROLE:NAME's certificate instead of client:tests: how a
    /// test speaks to the worker gateway or a worker's transfer service as a node (for "PREFIX-*", as any node PREFIX-SUFFIX).
    /// It sends messages of any size, so a server's own limits are what a test meets.
    /// </summary>
    public static GrpcChannel Channel(string url, ClusterRole role, string name)
    {
        var (cert, key) = Files(role, name);
        var options = ClientOptions([new Uri(url)]);
        return SchedulerChannels.ForAddress(new Uri(url), new SchedulerClientOptions
        {
            Addresses = options.Addresses,
            CaCertificate = options.CaCertificate,
            ClientCertificate = ClusterCertificates.Load(cert, key),
            Timeout = options.Timeout,
            RetryBudget = options.RetryBudget,
            MaxSendMessageBytes = int.MaxValue,
        });
    }
}
