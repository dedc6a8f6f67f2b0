using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

/// <summary>`jobs why` on the loop: which placement check how many nodes failed, and a placed job's score and runner-up.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ExplainJobTests
{
    [Test]
    public async Task A_job_larger_than_every_node_counts_the_nodes_under_capacity()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        await harness.ConnectAsync("n2", gpus: 4);
        var job = await harness.SubmitAsync("big", gpus: 8);
        await harness.SettleAsync();

        var why = await ExplainAsync(harness, job.Id);

        Assert.That(why.State, Is.EqualTo(JobState.Pending));
        Assert.That((why.NodesTotal, why.NodesFit), Is.EqualTo((2, 0)));
        Assert.That(why.Failures.Select(f => (f.Check, f.Reason, f.Nodes)), Is.EqualTo(new[] { ("capacity", "too few GPUs in total", 2) }));
        Assert.That(why.Failures[0].NodeIds, Is.EqualTo(new[] { "n1", "n2" }));
        Assert.That(why.Placed, Is.Null);
        Assert.That(why.Quota, Is.Empty);
    }

    [Test]
    public async Task A_busy_node_and_a_cordoned_node_are_counted_under_their_own_checks()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        var first = await harness.SubmitAsync("first", gpus: 4);
        await harness.SettleAsync();
        await harness.ConnectAsync("n2", gpus: 4);
        await harness.Loop.AskAsync<Node>(r => new ChangeNode("n2", NodeOperation.Cordon, "", r), Timeout());
        var second = await harness.SubmitAsync("second", gpus: 4);
        await harness.SettleAsync();

        var why = await ExplainAsync(harness, second.Id);

        Assert.That(harness.Loop.View.Jobs[first.Id].NodeId, Is.EqualTo("n1"));
        Assert.That(why.Failures.Select(f => (f.Check, f.Reason, f.Nodes, string.Join(',', f.NodeIds))), Is.EquivalentTo(new[]
        {
            ("capacity", "too few free GPUs", 1, "n1"),
            ("cordon", "cordoned", 1, "n2"),
        }));
        Assert.That(why.NodesFit, Is.Zero);
    }

    [Test]
    public async Task A_node_selector_no_node_matches_is_counted_under_labels()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        await harness.ConnectAsync("n2", gpus: 4);
        var spec = new JobSpec { Name = "picky", Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = 1 } };
        spec.NodeSelector["zone"] = "b";
        var submitted = await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = "picky", Spec = spec }, r), Timeout());
        await harness.SettleAsync();

        var why = await ExplainAsync(harness, submitted.Job.Id);

        Assert.That(why.Failures.Select(f => (f.Check, f.Reason, f.Nodes)), Is.EqualTo(new[] { ("labels", "labels do not match", 2) }));
    }

    [Test]
    public async Task A_placed_job_names_its_node_its_score_and_the_runner_up()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        await harness.ConnectAsync("n2", gpus: 4);
        var job = await harness.SubmitAsync("small", gpus: 1);
        await harness.SettleAsync();
        var node = harness.Loop.View.Jobs[job.Id].NodeId;

        var why = await ExplainAsync(harness, job.Id);

        Assert.That(node, Is.Not.Null);
        Assert.That(why.Placed.NodeId, Is.EqualTo(node));
        Assert.That(double.IsFinite(why.Placed.Score), Is.True, "its own node still fits once its allocation is set aside");
        Assert.That(why.RunnerUp.NodeId, Is.EqualTo(node == "n1" ? "n2" : "n1"));
        Assert.That(why.Placed.Score, Is.GreaterThanOrEqualTo(why.RunnerUp.Score), "it went to the best node");
        Assert.That(why.ScoreNote, Does.Contain("released hypothetically"));
        Assert.That(harness.Loop.View.Nodes[node!].Free.Gpus, Is.EqualTo(3), "explaining released nothing for real");
    }

    [Test]
    public async Task A_placed_gang_is_scored_on_rank_0s_node_with_its_own_replicas_released()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        await harness.ConnectAsync("n2", gpus: 4);
        var job = await GangLoopTests.SubmitGangAsync(harness, "g1", replicas: 2, gpus: 2);
        await harness.SettleAsync();
        var node = harness.Loop.View.Jobs[job.Id].NodeId!;
        Assert.That(harness.Loop.View.Nodes[node].Free.Gpus, Is.Zero, "both replicas fill rank 0's node");

        var why = await ExplainAsync(harness, job.Id);

        Assert.That(why.Placed.NodeId, Is.EqualTo(node));
        Assert.That(double.IsFinite(why.Placed.Score), Is.True, "its node fits a replica once the gang's own replicas are set aside");
        Assert.That(why.Failures, Is.Empty, "no node is short of what the gang itself holds");
        Assert.That(why.ScoreNote, Does.Contain("every replica of this gang released hypothetically"));
        Assert.That(why.Gang, Does.Contain("placed whole"));
        Assert.That(harness.Loop.View.Nodes[node].Free.Gpus, Is.Zero, "explaining released nothing for real");
    }

    [Test]
    public async Task An_unknown_job_is_not_found()
    {
        await using var harness = await LoopHarness.StartAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() => ExplainAsync(harness, "j-nope"));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }

    private static Task<JobExplanation> ExplainAsync(LoopHarness harness, string jobId) =>
        harness.Loop.AskAsync<JobExplanation>(r => new ExplainJob(jobId, r), Timeout());

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;
}
