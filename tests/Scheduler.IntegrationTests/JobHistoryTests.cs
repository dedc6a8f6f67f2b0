using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// List and Watch over a history larger than any one answer should carry: a master with no workers and
/// more jobs than the 4,096 a watch once had to hold in its backlog.
/// </summary>
[TestFixture]
[CancelAfter(240_000)]
public sealed class JobHistoryTests
{
    private const int Jobs = 4200;
    private TestCluster _cluster = null!;
    private ClusterApi _api = null!;

    [OneTimeSetUp]
    public async Task StartMasterWithAHistory()
    {
        _cluster = await TestCluster.StartAsync("history");
        _api = new ClusterApi(_cluster.MasterUrl);
        var spec = ClusterApi.Shell("exit 0");
        await Parallel.ForAsync(0, Jobs, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, _) => await _api.SubmitAsync(spec));
    }

    [OneTimeTearDown]
    public async Task StopMaster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Test]
    public async Task List_pages_through_every_job_newest_first_without_repeats()
    {
        var all = await ListAllAsync(new ListJobsRequest { PageSize = 1000 });

        var sequences = all.Select(j => int.Parse(j.Id[2..], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(sequences, Has.Length.GreaterThanOrEqualTo(Jobs).And.Unique);
        Assert.That(sequences, Is.Ordered.Descending);
    }

    [Test]
    public async Task List_without_a_page_size_answers_a_bounded_page_and_caps_a_large_one()
    {
        var first = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        var capped = await _api.Jobs.ListAsync(new ListJobsRequest { PageSize = 100_000 }, deadline: ClusterApi.Deadline());

        Assert.That((first.Jobs.Count, first.NextPageToken.Length > 0), Is.EqualTo((200, true)));
        Assert.That((capped.Jobs.Count, capped.NextPageToken.Length > 0), Is.EqualTo((1000, true)));
    }

    [Test]
    public async Task List_pages_stay_within_the_state_filter_they_were_issued_for()
    {
        var cancelled = await _api.SubmitAsync(ClusterApi.Shell("exit 0"));
        await _api.Jobs.CancelAsync(new CancelJobRequest { Id = cancelled.Id }, deadline: ClusterApi.Deadline());
        var filter = new ListJobsRequest { PageSize = 1 };
        filter.States.Add(JobState.Cancelled);

        var jobs = await ListAllAsync(filter);

        Assert.That(jobs.Select(j => j.State), Has.All.EqualTo(JobState.Cancelled));
        Assert.That(jobs.Select(j => j.Id), Does.Contain(cancelled.Id));
    }

    [TestCase("not-a-token")]
    [TestCase("cDE6MTA6")]
    public async Task A_page_token_that_list_did_not_issue_for_this_filter_is_invalid_argument_naming_page_token(string token)
    {
        var request = new ListJobsRequest { PageToken = token };
        request.States.Add(JobState.Pending);

        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument, () => _api.Jobs.ListAsync(request, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("page_token"));
    }

    [Test]
    public async Task Watch_of_every_job_replays_a_history_larger_than_the_old_backlog_then_syncs()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var call = _api.Jobs.Watch(new WatchJobsRequest(), cancellationToken: cts.Token);

        var current = 0;
        JobEvent? synced = null;
        while (synced is null && await call.ResponseStream.MoveNext(cts.Token))
        {
            var e = call.ResponseStream.Current;
            current += e.Type == JobEventType.Current ? 1 : 0;
            synced = e.Type == JobEventType.Synced ? e : null;
        }

        Assert.That(current, Is.GreaterThanOrEqualTo(Jobs), "every unfinished job, however many");
        Assert.That(synced!.ResumeToken, Is.Not.Empty);
    }

    [Test]
    public async Task Watch_resumed_with_a_token_gets_only_the_changes_after_it()
    {
        var token = await SyncTokenAsync(new WatchJobsRequest { ChangesOnly = true });
        var a = await _api.SubmitAsync(ClusterApi.Shell("exit 0"));
        var b = await _api.SubmitAsync(ClusterApi.Shell("exit 0"));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var call = _api.Jobs.Watch(new WatchJobsRequest { ResumeToken = token }, cancellationToken: cts.Token);
        var events = new List<JobEvent>();
        while (!events.Any(e => e.Job?.Id == b.Id) && await call.ResponseStream.MoveNext(cts.Token))
        {
            events.Add(call.ResponseStream.Current);
        }

        Assert.That(events.Select(e => e.Type), Has.All.EqualTo(JobEventType.Changed), "no replay of the history");
        Assert.That(events.First().Job.Id, Is.EqualTo(a.Id), "the first change after the token is the next submit");
        Assert.That(events.Select(e => e.ResumeToken), Has.All.Not.Empty.And.Unique);
    }

    [Test]
    public async Task A_resume_token_the_master_did_not_issue_is_invalid_argument_naming_resume_token()
    {
        using var call = _api.Jobs.Watch(new WatchJobsRequest { ResumeToken = "garbage" }, deadline: ClusterApi.Deadline());

        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument, () => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.That(ex.Status.Detail, Does.StartWith("resume_token"));
    }

    private async Task<string> SyncTokenAsync(WatchJobsRequest request)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var call = _api.Jobs.Watch(request, cancellationToken: cts.Token);
        while (await call.ResponseStream.MoveNext(cts.Token))
        {
            if (call.ResponseStream.Current.Type == JobEventType.Synced)
            {
                return call.ResponseStream.Current.ResumeToken;
            }
        }

        throw new AssertionException("the watch ended before SYNCED");
    }

    private async Task<List<Job>> ListAllAsync(ListJobsRequest request)
    {
        var jobs = new List<Job>();
        do
        {
            var page = await _api.Jobs.ListAsync(request, deadline: ClusterApi.Deadline());
            jobs.AddRange(page.Jobs);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);

        return jobs;
    }
}
