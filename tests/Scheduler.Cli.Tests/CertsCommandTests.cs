using System.Security.Cryptography.X509Certificates;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>`schedctl certs init|issue` as an operator runs them: what they write is a CA and leaves a TLS stack accepts.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class CertsCommandTests
{
    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private string _dir = null!;

    [SetUp]
    public void MakeFolder()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"certs-{Guid.NewGuid():N}"[..18]);
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Init_makes_a_P256_CA_whose_key_only_its_owner_reads_and_refuses_to_replace_it()
    {
        var first = await Schedctl.RunAsync(null, null, "certs", "init", "--dir", _dir);
        var again = await Schedctl.RunAsync(null, null, "certs", "init", "--dir", _dir);

        Assert.That(first.ExitCode, Is.Zero, first.Err);
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(_dir, "ca.crt"), Path.Combine(_dir, "ca.key"));
        Assert.Multiple(() =>
        {
            Assert.That(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority, Is.True);
            Assert.That(ca.GetECDsaPublicKey()!.KeySize, Is.EqualTo(256));
            Assert.That(File.GetUnixFileMode(Path.Combine(_dir, "ca.key")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(again.ExitCode, Is.EqualTo(2));
            Assert.That(again.Err, Does.Contain("exists"));
        });
    }

    [TestCase("--node", "gpu-7", "node:gpu-7", true)]
    [TestCase("--master", "sched-1", "master:sched-1", true)]
    [TestCase("--client", "alice", "client:alice", false)]
    public async Task Issue_signs_a_certificate_that_chains_to_the_CA_with_the_role_in_its_name(string flag, string name, string cn, bool server)
    {
        await Schedctl.RunAsync(null, null, "certs", "init", "--dir", _dir);

        var issue = await Schedctl.RunAsync(null, null, "certs", "issue", flag, name, "--dir", _dir, "--san", "10.1.2.3", "--san", "gpu-host.example");

        Assert.That(issue.ExitCode, Is.Zero, issue.Err);
        using var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(_dir, "ca.crt"));
        using var leaf = X509Certificate2.CreateFromPemFile(Path.Combine(_dir, $"{name}.crt"), Path.Combine(_dir, $"{name}.key"));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var usages = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value).ToArray();
        var sans = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SingleOrDefault();
        Assert.Multiple(() =>
        {
            Assert.That(chain.Build(leaf), Is.True, string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
            Assert.That(leaf.GetNameInfo(X509NameType.SimpleName, forIssuer: false), Is.EqualTo(cn));
            Assert.That(leaf.HasPrivateKey, Is.True);
            Assert.That(File.GetUnixFileMode(Path.Combine(_dir, $"{name}.key")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(usages, server ? Is.EquivalentTo(new[] { ServerAuth, ClientAuth }) : Is.EquivalentTo(new[] { ClientAuth }));
            Assert.That(sans!.EnumerateDnsNames(), server ? Is.EquivalentTo(new[] { "localhost", "gpu-host.example" }) : Is.EquivalentTo(new[] { "gpu-host.example" }));
            Assert.That(sans.EnumerateIPAddresses().Select(a => a.ToString()), server ? Is.EquivalentTo(new[] { "127.0.0.1", "10.1.2.3" }) : Is.EquivalentTo(new[] { "10.1.2.3" }));
        });
    }

    [Test]
    public async Task A_certificate_another_CA_issued_does_not_chain_to_this_one()
    {
        var other = Path.Combine(_dir, "other");
        await Schedctl.RunAsync(null, null, "certs", "init", "--dir", _dir);
        await Schedctl.RunAsync(null, null, "certs", "init", "--dir", other);
        await Schedctl.RunAsync(null, null, "certs", "issue", "--node", "gpu-7", "--dir", other);

        using var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(_dir, "ca.crt"));
        using var leaf = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(other, "gpu-7.crt"));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        Assert.That(chain.Build(leaf), Is.False);
    }

    [TestCase("issue", "--node", "a", "--client", "b")]
    [TestCase("issue", "--client", "bad*name")]
    [TestCase("issue", "--node", "gpu-7")]
    public async Task Wrong_issue_requests_are_one_error_line_and_exit_2(params string[] args)
    {
        var result = await Schedctl.RunAsync(null, null, ["certs", .. args, "--dir", _dir]);

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: ").And.Not.Contain('\n'));
    }
}
