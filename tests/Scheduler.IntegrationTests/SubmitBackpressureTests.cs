using System.Globalization;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>A real master whose inbox holds one submit at a time, flooded by concurrent clients: refusals are retried, every job stored once.</summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class SubmitBackpressureTests : PerTestCluster
{
    private static readonly HttpClient Http = new();

    [Test]
    public async Task Submits_refused_by_a_full_inbox_are_retried_by_the_client_and_stored_once()
    {
        var (cluster, _) = await StartAsync("backpressure", "--max-pending-submits", "1", "--metrics-listen", "127.0.0.1:0");
        var metricsFile = Path.Combine(cluster.MasterDataDir, "metrics.addr");
        var metrics = await Eventually.ReturnsAsync(() => Task.FromResult(File.Exists(metricsFile) ? File.ReadAllText(metricsFile).Trim() : null), "metrics.addr");
        var tls = TestCertificates.ClientOptions([new Uri(cluster.MasterUrl)]);
        await using var client = new SchedulerClient(new SchedulerClientOptions
        {
            Addresses = tls.Addresses,
            CaCertificate = tls.CaCertificate,
            ClientCertificate = tls.ClientCertificate,
            MaxBusyRetries = 1000,
            Timeout = TimeSpan.FromSeconds(60),
        });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        const int Jobs = 300;
        var spec = new JobSpec { Name = "flood", Command = "/bin/true", Resources = new Resources { CpuMillis = 10, MemoryMib = 16 } };

        // Sixty-four callers at once against a bound of one: most find the inbox full at least once.
        var next = -1;
        var answers = new SubmitJobResponse[Jobs];
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Jobs)
            {
                answers[i] = await client.SubmitAsync(spec, $"flood-{i.ToString(CultureInfo.InvariantCulture)}", deadline.Token);
            }
        }));

        var samples = await PrometheusScrape.ReadAsync(Http, metrics);
        Assert.That(samples.Value("scheduler_jobs_refused_total"), Is.GreaterThan(0), "the master refused some submits (the test's premise)");
        var stored = await client.ListJobsAsync(null, 0, deadline.Token);
        Assert.That(stored.Select(j => j.RequestId).Order(), Is.EqualTo(Enumerable.Range(0, Jobs).Select(i => $"flood-{i.ToString(CultureInfo.InvariantCulture)}").Order()), "each submit stored exactly once");
        Assert.That(answers.Select(a => a.Job.Id).Distinct().Count(), Is.EqualTo(Jobs));
    }
}
