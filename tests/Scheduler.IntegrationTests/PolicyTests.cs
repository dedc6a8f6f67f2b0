using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Scheduling policies through the real master: preemption, affinity, quotas, queue order.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class PolicyTests : PerTestCluster
{
    [Test]
    public async Task High_priority_job_preempts_lower_priority_work_which_is_requeued_and_finishes_later()
    {
        var (cluster, api) = await StartAsync("preempt");
        cluster.StartWorker("w1", gpus: 2);
        await api.WaitForReadyNodesAsync("w1");
        var low = await api.SubmitAsync(Script("if [ \"$SCHEDULER_ATTEMPT\" = 1 ]; then exec sleep 120; fi; echo resumed", gpus: 2, priority: 100));
        await api.WaitForStateAsync(low.Id, JobState.Running);

        var high = await api.SubmitAsync(Script("sleep 1; echo urgent done", gpus: 2, priority: 800));

        var urgent = await api.WaitForStateAsync(high.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        var resumed = await api.WaitForStateAsync(low.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        Assert.That(urgent.Attempt, Is.EqualTo(1));
        Assert.That(resumed.Attempt, Is.EqualTo(2), "the victim was requeued, not failed");
        Assert.That(resumed.Requeues, Is.Zero, "being preempted does not use up the job's retries for lost workers");
        Assert.That(resumed.StartedAt.ToDateTimeOffset(), Is.GreaterThanOrEqualTo(urgent.FinishedAt.ToDateTimeOffset()), "it ran again only after the preemptor left room");
    }

    [Test]
    public async Task Job_below_the_preemption_threshold_waits_instead_of_evicting()
    {
        var (cluster, api) = await StartAsync("no-preempt");
        cluster.StartWorker("w1", gpus: 1);
        await api.WaitForReadyNodesAsync("w1");
        var low = await api.SubmitAsync(Script("exec sleep 120", gpus: 1, priority: 100));
        await api.WaitForStateAsync(low.Id, JobState.Running);

        var mid = await api.SubmitAsync(Script("exit 0", gpus: 1, priority: 400));

        var waiting = await api.WaitForJobAsync(mid.Id, j => j.PendingReason.Length > 0, "given a pending reason");
        Assert.That(waiting.State, Is.EqualTo(JobState.Pending));
        var still = await api.Jobs.GetAsync(new GetJobRequest { Id = low.Id }, deadline: ClusterApi.Deadline());
        Assert.That((still.State, still.Attempt), Is.EqualTo((JobState.Running, 1)));
    }

    [Test]
    public async Task Job_goes_to_the_node_that_has_its_model_cached()
    {
        var (cluster, api) = await StartAsync("affinity");
        Directory.CreateDirectory(Path.Combine(cluster.Root, "w2", "cache", "llama-70b"));
        cluster.StartWorker("w1");
        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w1", "w2");
        await Eventually.TrueAsync(
            async () => (await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline())).Nodes.All(n => n.LastHeartbeat is not null),
            "both workers to heartbeat");

        var nodes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var spec = Script("exit 0", gpus: 1);
            spec.AffinityKeys.Add("llama-70b");
            var job = await api.SubmitAsync(spec);
            nodes.Add((await api.WaitForStateAsync(job.Id, JobState.Succeeded)).NodeId);
        }

        Assert.That(nodes, Has.All.EqualTo("w2"));
    }

    [Test]
    public async Task Tenant_over_its_quota_waits_with_a_reason_naming_the_quota()
    {
        var (cluster, api) = await StartAsync("quota", "--Master:Quotas:team-a:GpuMilli=1000");
        cluster.StartWorker("w1", gpus: 4);
        await api.WaitForReadyNodesAsync("w1");
        var first = Script("exec sleep 120", gpus: 1);
        first.Tenant = "team-a";
        var second = Script("exit 0", gpus: 1);
        second.Tenant = "team-a";
        var other = Script("exit 0", gpus: 1);
        other.Tenant = "team-b";

        var running = await api.SubmitAsync(first);
        await api.WaitForStateAsync(running.Id, JobState.Running);
        var blocked = await api.SubmitAsync(second);
        var free = await api.SubmitAsync(other);

        await api.WaitForStateAsync(free.Id, JobState.Succeeded);
        var waiting = await api.WaitForJobAsync(blocked.Id, j => j.PendingReason.Contains("quota", StringComparison.Ordinal), "held back by the quota");
        Assert.That(waiting.PendingReason, Does.Contain("team-a"));

        await api.Jobs.CancelAsync(new CancelJobRequest { Id = running.Id }, deadline: ClusterApi.Deadline());
        await api.WaitForStateAsync(blocked.Id, JobState.Succeeded);
    }

    [Test]
    public async Task Unknown_queue_policy_stops_the_master_with_a_message()
    {
        var ex = await Assert.ThrowsAsync<AssertionException>(async () => await StartAsync("bad-queue", "--queue-policy", "lottery"));
        Assert.That(ex!.Message, Does.Contain("Master:QueuePolicy"));
    }

    private static JobSpec Script(string script, int gpus = 0, int priority = 0) => ClusterApi.Shell(script, gpus: gpus, priority: priority);
}
