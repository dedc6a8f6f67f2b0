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
        Assert.That(result.Err, Does.Contain("certificate").Or.Contain("SSL"));
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

        Assert.That(error!.Status.Detail, Does.Contain("SSL connection could not be established").And.Contain("certificate"));
    }

    [Test]
    public async Task The_sdk_with_the_cluster_CA_calls_the_master()
    {
        await using var client = new SchedulerClient(TestCertificates.ClientOptions([new Uri(_cluster.MasterUrl)]));

        var leader = await client.GetLeaderAsync(CancellationToken.None);

        Assert.That(leader.IsLeader, Is.True);
    }
}
