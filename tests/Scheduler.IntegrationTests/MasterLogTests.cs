using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>What the master writes to its log: its own events, not the web stack's per-request chatter.</summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class MasterLogTests : PerTestCluster
{
    [Test]
    public async Task Master_log_has_no_per_request_lines_by_default()
    {
        // The job lines are at debug level: turned on, the submit's line marks that the requests before it were logged.
        var (cluster, api) = await StartAsync("quiet-log", "--Logging:LogLevel:Scheduler.Master.Scheduling=Debug");
        for (var i = 0; i < 5; i++)
        {
            await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        }

        // Logged by the loop while the last request is handled, so after every earlier request was logged.
        var job = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        await Eventually.TrueAsync(() => cluster.Master!.ReadLog().Contains($"Job {job.Id} submitted", StringComparison.Ordinal), "the submit to be logged");

        Assert.That(cluster.Master!.ReadLog(), Does.Not.Contain("Request starting").And.Not.Contain("Executing endpoint"));
    }

    [Test]
    public async Task A_client_cancelling_a_watch_is_no_error_even_with_request_logging_on()
    {
        var (cluster, api) = await StartAsync("watch-cancel", "--Logging:LogLevel:Microsoft.AspNetCore=Information", "--Logging:LogLevel:Grpc=Information");
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            using var call = api.Jobs.Watch(new WatchJobsRequest(), cancellationToken: cts.Token);
            while (await call.ResponseStream.MoveNext(cts.Token) && call.ResponseStream.Current.Type != JobEventType.Synced)
            {
            }

            await cts.CancelAsync();
        }

        await Eventually.TrueAsync(
            () => cluster.Master!.ReadLog().Contains("Request finished HTTP/2 POST", StringComparison.Ordinal)
                && cluster.Master.ReadLog().Contains("/scheduler.v1.Jobs/Watch - 200", StringComparison.Ordinal),
            "the cancelled watch to finish");

        var log = cluster.Master!.ReadLog();
        Assert.That(log, Does.Not.Contain("Exception").And.Not.Contain("canceled").And.Not.Contain("fail:"));
    }
}
