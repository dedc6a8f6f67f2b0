using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>Retention: finished jobs are deleted once the retention (--job-retention or --job-retention-hours) has passed since they finished; nothing else is.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class RetentionTests
{
    [Test]
    public async Task A_job_finished_longer_ago_than_the_retention_is_deleted_and_the_rest_kept()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetentionHours = 1, AutoscaleIntervalSeconds = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 1);
        var done = await harness.SubmitAsync("done", gpus: 1);
        harness.Report(n1, done.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        var waiting = await harness.SubmitAsync("waiting", gpus: 2);
        var newest = await harness.SubmitAsync("newest", gpus: 1);
        harness.Report(n1, newest.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[done.Id].State, Is.EqualTo(JobState.Succeeded));

        await ElapseAsync(harness, TimeSpan.FromMinutes(50));
        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.True, "kept within the retention");

        await ElapseAsync(harness, TimeSpan.FromMinutes(20));
        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.False, "deleted from the store");
        Assert.That(harness.Loop.Feed.Current.History.TryGet(done.Id, out _), Is.False, "Get and List no longer find it");
        Assert.That(harness.Loop.View.Jobs.ContainsKey(done.Id), Is.False);
        Assert.That(harness.Store.Jobs[waiting.Id].State, Is.EqualTo(JobState.Pending), "an unfinished job is never deleted, however old");
        Assert.That(harness.Store.Jobs[newest.Id].State, Is.EqualTo(JobState.Succeeded), "the newest job is kept: job ids continue after it");
        var cancel = await Assert.ThrowsAsync<RpcException>(() => harness.Loop.AskAsync<Job>(r => new CancelJob(done.Id, r), CancellationToken.None));
        Assert.That(cancel!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }

    [Test]
    public async Task Ids_of_deleted_jobs_are_never_handed_out_again_after_a_restart()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetentionHours = 1, AutoscaleIntervalSeconds = 0 };
        var store = new MemoryStore();
        var ids = new List<string>();
        await using (var harness = await StartAsync(options, store))
        {
            var n1 = await harness.ConnectAsync("n1", 1);
            foreach (var name in new[] { "a", "b" })
            {
                var job = await harness.SubmitAsync(name, gpus: 1);
                ids.Add(job.Id);
                harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
                await harness.SettleAsync();
            }

            await ElapseAsync(harness, TimeSpan.FromMinutes(70));
            Assert.That(store.Jobs.Keys, Is.EqualTo(new[] { ids[1] }), "the older one deleted, the newest kept");
        }

        await using var restarted = await StartAsync(options, store);
        var next = await restarted.SubmitAsync("c", gpus: 1);

        Assert.That(ids, Does.Not.Contain(next.Id));
    }

    [Test]
    public async Task A_sub_hour_retention_deletes_finished_jobs_seconds_after_they_finish_and_never_a_running_or_pending_one()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "30s", RequestIdWindow = "0", AutoscaleIntervalSeconds = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 2);
        var done = await harness.SubmitAsync("done", gpus: 1);
        harness.Report(n1, done.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        var running = await harness.SubmitAsync("running", gpus: 1);
        harness.Report(n1, running.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        var waiting = await harness.SubmitAsync("waiting", gpus: 2);
        await harness.SettleAsync();

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20), n1);
        var late = await harness.SubmitAsync("late", gpus: 1);
        harness.Report(n1, late.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.True, "kept within the 30 s");

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), n1);

        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.False, "deleted from the store 30 s after it finished");
        Assert.That(harness.Loop.Feed.Current.History.TryGet(done.Id, out _), Is.False, "and from the master's memory");
        Assert.That(harness.Loop.View.Jobs.ContainsKey(done.Id), Is.False);
        Assert.That(harness.Store.Jobs[running.Id].State, Is.EqualTo(JobState.Running), "a running job is never deleted, however old");
        Assert.That(harness.Store.Jobs[waiting.Id].State, Is.EqualTo(JobState.Pending), "a pending job is never deleted, however old");
        Assert.That(harness.Loop.View.Jobs.ContainsKey(running.Id) && harness.Loop.View.Jobs.ContainsKey(waiting.Id), Is.True);
        Assert.That(harness.Store.Jobs.ContainsKey(late.Id), Is.True, "finished less than 30 s ago (and the newest)");
    }

    [Test]
    public async Task More_expired_jobs_than_one_run_deletes_are_all_deleted_over_the_next_ticks()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "10m", AutoscaleIntervalSeconds = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 1);
        const int Jobs = 1500;
        for (var i = 0; i < Jobs; i++)
        {
            var job = await harness.SubmitAsync($"job-{i}", gpus: 1);
            harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        }

        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs, Has.Count.EqualTo(Jobs));

        await harness.PassAsync(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(11), n1);
        await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
        await harness.AdvanceAsync(TimeSpan.FromSeconds(1));

        Assert.That(harness.Store.Jobs, Has.Count.EqualTo(1), "all but the newest deleted, 1,000 a run");
        Assert.That(harness.Loop.View.Jobs, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_retried_submit_after_the_retention_but_within_the_request_id_window_returns_the_first_job()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "30s", AutoscaleIntervalSeconds = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 1);
        var first = (await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(RequestFor("retried"), r), CancellationToken.None)).Job;
        harness.Report(n1, first.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SubmitAsync("newest", gpus: 2);

        await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), n1);
        var retry = await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(RequestFor("retried"), r), CancellationToken.None);

        Assert.That(harness.Store.Jobs.ContainsKey(first.Id), Is.True, "kept past the 30 s retention: submitted less than the default 10 min window ago");
        Assert.That((retry.Created, retry.Job.Id, retry.Job.State), Is.EqualTo((false, first.Id, JobState.Succeeded)), "the retry gets the finished job, not a second run");
        Assert.That(harness.Store.Jobs, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task A_finished_job_is_deleted_once_both_the_retention_and_the_request_id_window_have_passed()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "30s", RequestIdWindow = "2m", AutoscaleIntervalSeconds = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 1);
        var done = await harness.SubmitAsync("done", gpus: 1);
        harness.Report(n1, done.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
        await harness.SubmitAsync("newest", gpus: 2);

        await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(100), n1);
        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.True, "past the retention, inside the window");

        await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60), n1);
        Assert.That(harness.Store.Jobs.ContainsKey(done.Id), Is.False, "both passed: deleted");
        Assert.That(harness.Loop.View.Jobs.ContainsKey(done.Id), Is.False);
    }

    [Test]
    public async Task The_request_id_window_holds_across_a_restart_of_the_master()
    {
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "30s", AutoscaleIntervalSeconds = 0 };
        var store = new MemoryStore();
        string firstId;
        await using (var harness = await StartAsync(options, store))
        {
            var n1 = await harness.ConnectAsync("n1", 1);
            var first = (await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(RequestFor("retried"), r), CancellationToken.None)).Job;
            firstId = first.Id;
            harness.Report(n1, first.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
            await harness.SubmitAsync("newest", gpus: 2);
            await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(2), n1);
        }

        // The new term knows the job only from the store: its submission time, stored, keeps it inside the window.
        await using var restarted = await StartAsync(options, store);
        var n2 = await restarted.ConnectAsync("n2", 1);
        await restarted.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1), n2);
        var retry = await restarted.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(RequestFor("retried"), r), CancellationToken.None);

        Assert.That((retry.Created, retry.Job.Id), Is.EqualTo((false, firstId)));
    }

    [Test]
    public void The_request_id_window_is_ten_minutes_unless_set()
    {
        Assert.That(JobRetention.RequestIdWindowOf(new MasterOptions()), Is.EqualTo(TimeSpan.FromMinutes(10)));
        Assert.That(JobRetention.RequestIdWindowOf(new MasterOptions { RequestIdWindow = "1h" }), Is.EqualTo(TimeSpan.FromHours(1)));
        Assert.That(JobRetention.RequestIdWindowOf(new MasterOptions { RequestIdWindow = "0" }), Is.EqualTo(TimeSpan.Zero));
    }

    [TestCase("10")]
    [TestCase("-1m")]
    [TestCase("")]
    [TestCase("2w")]
    public void A_wrong_request_id_window_is_refused_naming_the_flag(string text)
    {
        var result = new JobRetention().Validate(null, new MasterOptions { RequestIdWindow = text });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.FailureMessage, Does.StartWith("--request-id-window (Master:RequestIdWindow) must be").And.EndWith($"got '{text}'"));
    }

    /// <summary>A submit of a one-GPU job as the Jobs service hands it on (defaults filled in): a retry of it compares equal.</summary>
    private static SubmitJobRequest RequestFor(string requestId) => new()
    {
        RequestId = requestId,
        Spec = Scheduler.Master.Validation.JobSpecDefaults.Apply(new JobSpec { Name = requestId, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = 1 } }),
    };

    [TestCase("30s", 30)]
    [TestCase("10m", 600)]
    [TestCase("24h", 86_400)]
    [TestCase("7d", 604_800)]
    [TestCase("0", 0)]
    public void A_duration_is_read_in_seconds_minutes_hours_or_days(string text, int seconds)
    {
        Assert.That(JobRetention.Of(new MasterOptions { JobRetention = text, JobRetentionHours = 5 }), Is.EqualTo(TimeSpan.FromSeconds(seconds)));
        Assert.That(new JobRetention().Validate(null, new MasterOptions { JobRetention = text }).Succeeded, Is.True);
    }

    [Test]
    public void Without_a_duration_the_hours_setting_decides()
    {
        Assert.That(JobRetention.Of(new MasterOptions { JobRetentionHours = 5 }), Is.EqualTo(TimeSpan.FromHours(5)));
        Assert.That(JobRetention.Of(new MasterOptions()), Is.EqualTo(TimeSpan.FromHours(168)), "the default, a week");
    }

    [TestCase("30")]
    [TestCase("10 m")]
    [TestCase("1.5h")]
    [TestCase("-5s")]
    [TestCase("5w")]
    [TestCase("99999999d")]
    public void A_wrong_duration_is_refused_naming_the_flag(string text)
    {
        var result = new JobRetention().Validate(null, new MasterOptions { JobRetention = text });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.FailureMessage, Does.StartWith("--job-retention (Master:JobRetention) must be").And.EndWith($"got '{text}'"));
    }

    /// <summary>Moves the fake clock on a minute at a time, letting the loop tick.</summary>
    private static async Task ElapseAsync(LoopHarness harness, TimeSpan by)
    {
        for (var passed = TimeSpan.Zero; passed < by; passed += TimeSpan.FromMinutes(1))
        {
            await harness.AdvanceAsync(TimeSpan.FromMinutes(1));
        }
    }
}
