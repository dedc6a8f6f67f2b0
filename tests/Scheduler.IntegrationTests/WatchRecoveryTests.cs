using System.Threading.Channels;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>The client's watch across a master that goes away and comes back.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class WatchRecoveryTests : PerTestCluster
{
    [Test]
    public async Task Client_watch_of_every_job_carries_on_after_the_master_restarts()
    {
        var (cluster, api) = await StartAsync("watch-restart");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var tls = TestCertificates.ClientOptions([new Uri(cluster.MasterUrl)]);
        await using var client = new SchedulerClient(new SchedulerClientOptions
        {
            Addresses = tls.Addresses,
            CaCertificate = tls.CaCertificate,
            ClientCertificate = tls.ClientCertificate,
            InitialBackoff = TimeSpan.FromMilliseconds(100),
            RetryBudget = TimeSpan.FromSeconds(60),
            MaxRetries = 100,
        });
        var events = Channel.CreateUnbounded<JobEvent>();
        var watching = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in client.WatchJobEventsAsync(new WatchJobsRequest(), stop.Token))
                {
                    await events.Writer.WriteAsync(e, stop.Token);
                }

                events.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                events.Writer.TryComplete(ex);
            }
        });
        await NextAsync(events, e => e.Type == JobEventType.Synced, stop.Token);

        await cluster.Master!.StopAsync();
        await cluster.StartMasterAsync();
        var job = await api.SubmitAsync(ClusterApi.Shell("exit 0"));

        var seen = await NextAsync(events, e => e.Job?.Id == job.Id, stop.Token);
        Assert.That(seen.Job.State, Is.EqualTo(JobState.Pending));
        await stop.CancelAsync();
        await watching.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static async Task<JobEvent> NextAsync(Channel<JobEvent> events, Func<JobEvent, bool> match, CancellationToken ct)
    {
        await foreach (var e in events.Reader.ReadAllAsync(ct))
        {
            if (match(e))
            {
                return e;
            }
        }

        throw new AssertionException("the watch ended instead of carrying on");
    }
}
