using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>Retention: finished jobs are deleted once --job-retention-hours have passed since they finished; nothing else is.</summary>
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

    /// <summary>Moves the fake clock on a minute at a time, letting the loop tick.</summary>
    private static async Task ElapseAsync(LoopHarness harness, TimeSpan by)
    {
        for (var passed = TimeSpan.Zero; passed < by; passed += TimeSpan.FromMinutes(1))
        {
            await harness.AdvanceAsync(TimeSpan.FromMinutes(1));
        }
    }
}
