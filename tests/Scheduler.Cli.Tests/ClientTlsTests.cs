using Grpc.Core;
using Scheduler.Client;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>Clients (schedctl and the SDK) against a TLS master: they check the master against the cluster CA, and plaintext needs --insecure.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class ClientTlsTests
{
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster() => _cluster = await TestCluster.StartAsync("client-tls");

    [OneTimeTearDown]
    public async Task StopCluster() => await _cluster.DisposeAsync();

    [Test]
    public async Task Schedctl_with_the_cluster_CA_talks_to_the_master()
    {
        var result = await Schedctl.RunAsync(_cluster.MasterUrl, null, "status");

        Assert.That(result.ExitCode, Is.Zero, result.Err);
    }

    [Test]
    public async Task Schedctl_trusting_another_CA_refuses_the_master_at_once()
    {
        var other = Path.Combine(_cluster.Root, "other-ca");
        await Schedctl.RunAsync(null, null, "certs", "init", "--dir", other);

        var result = await Schedctl.RunAsync(_cluster.MasterUrl, null, "--ca", Path.Combine(other, "ca.crt"), "status");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: Unavailable: TLS handshake with " + _cluster.MasterUrl.TrimEnd('/') + " failed").And.Not.Contain('\n'));
        Assert.That(result.Err, Does.Contain("the master's certificate 'CN=master:test' is not trusted by the cluster CA").And.Contain("check that --ca"));
        Assert.That(result.Err, Does.Not.Contain("Internal").And.Not.Contain("HttpRequestException"));
    }

    [Test]
    public async Task Schedctl_with_a_client_certificate_another_CA_issued_is_told_the_master_refused_it()
    {
        var other = Path.Combine(_cluster.Root, "rogue-client-ca");
        await Schedctl.RunAsync(null, null, "certs", "init", "--dir", other);
        await Schedctl.RunAsync(null, null, "certs", "issue", "--client", "mallory", "--dir", other);

        var result = await Schedctl.RunAsync(_cluster.MasterUrl, null, "--cert", Path.Combine(other, "mallory.crt"), "--key", Path.Combine(other, "mallory.key"), "status");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: Unavailable: TLS handshake with").And.Not.Contain('\n'));
        Assert.That(result.Err, Does.Contain("the master refuses this client's certificate: certificate 'CN=client:mallory' is not trusted by the cluster CA"));
    }

    [Test]
    public async Task Schedctl_refuses_a_plaintext_url_unless_told_insecure()
    {
        var plain = new UriBuilder(_cluster.MasterUrl) { Scheme = "http" }.Uri.ToString();

        var result = await Schedctl.RunAsync(plain, null, "status");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.Contain("--insecure").And.Not.Contain('\n'));
    }

    [Test]
    public async Task Schedctl_insecure_warns_on_stderr()
    {
        var result = await Schedctl.RunAsync("http://127.0.0.1:1", null, "--insecure", "status", "--help");

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        Assert.That(result.Err, Does.Not.Contain("warning"), "help runs nothing");

        var called = await Schedctl.RunInAsync(null, null, "http://127.0.0.1:1", TimeSpan.FromSeconds(60), "--insecure", "leader");
        Assert.That(called.Err, Does.StartWith("warning: --insecure"));
    }

    [Test]
    public async Task The_sdk_without_the_cluster_CA_cannot_call_the_master()
    {
        await using var client = new SchedulerClient(new SchedulerClientOptions { Addresses = [new Uri(_cluster.MasterUrl)], RetryBudget = TimeSpan.FromSeconds(5) });

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.GetLeaderAsync(CancellationToken.None));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.StartWith("TLS handshake with").And.Contain("is not trusted by this machine's root store; give the cluster's CA"));
    }

    [Test]
    public async Task The_sdk_with_the_cluster_CA_calls_the_master()
    {
        await using var client = new SchedulerClient(TestCertificates.ClientOptions([new Uri(_cluster.MasterUrl)]));

        var leader = await client.GetLeaderAsync(CancellationToken.None);

        Assert.That(leader.IsLeader, Is.True);
    }
}
