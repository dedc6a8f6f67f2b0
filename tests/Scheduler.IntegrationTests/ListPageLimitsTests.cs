using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Answers stay within what a client accepts, however large the stored jobs are.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class ListPageLimitsTests
{
    [Test]
    public async Task A_list_of_large_jobs_is_paged_below_a_default_client_s_receive_limit()
    {
        await using var cluster = await TestCluster.StartAsync("limits");

        // The raw channel keeps gRPC's default 4 MiB receive limit; nine jobs of about 500 KB each are more.
        using var api = new ClusterApi(cluster.MasterUrl);
        var submitted = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            var spec = ClusterApi.Shell("exit 0", cpuMillis: 64_000);
            spec.Args.Add(Enumerable.Range(0, 8).Select(_ => new string('a', 30_000)));
            for (var e = 0; e < 8; e++)
            {
                spec.Env[$"V{e}"] = new string('e', 30_000);
            }

            submitted.Add(await api.SubmitAsync(spec) is { } job ? job.Id : "");
        }

        var first = await api.Jobs.ListAsync(new ListJobsRequest { PageSize = 100 }, deadline: ClusterApi.Deadline());
        var all = await Fuzz.StoredRecords.ListAllJobsAsync(api);

        Assert.That(first.Jobs, Has.Count.LessThan(9), "the first page ends early, by size");
        Assert.That(first.NextPageToken, Is.Not.Empty);
        Assert.That(all.Select(j => j.Id), Is.EquivalentTo(submitted), "the pages together list every job once");
    }
}
