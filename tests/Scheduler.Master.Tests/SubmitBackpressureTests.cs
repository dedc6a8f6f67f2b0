using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

/// <summary>A bounded inbox: submits past --max-pending-submits are refused with a retry hint; the control plane is never refused.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SubmitBackpressureTests
{
    [Test]
    public async Task A_submit_finding_the_inbox_full_is_refused_with_a_retry_hint_and_nothing_stored()
    {
        await using var harness = await LoopHarness.StartAsync(Options(maxPendingSubmits: 2));
        var session = await harness.ConnectAsync("n1", gpus: 4);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);

        // The loop is held in the first submit's write; two more fill the inbox.
        var held = harness.SubmitAsync("held");
        await harness.Store.Holding.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var waiting = new[] { harness.SubmitAsync("w1"), harness.SubmitAsync("w2") };

        var refused = await Assert.ThrowsAsync<RpcException>(() => harness.SubmitAsync("refused"));

        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        var hint = refused.Trailers.GetValue(SubmitBackpressure.RetryAfterTrailer);
        Assert.That(long.TryParse(hint, out var ms) && ms > 0, Is.True, $"a retry-after-ms trailer with a positive wait (got '{hint}')");
        Assert.That(refused.Status.Detail, Does.Contain($"retry after {ms} ms").And.Contain("--max-pending-submits").And.Contain("nothing was stored"));

        // Worker messages are never bounded: a heartbeat posted now is taken and answered.
        harness.Heartbeat(session);
        release.SetResult();
        await Task.WhenAll([held, .. waiting]).WaitAsync(TimeSpan.FromSeconds(30));
        await harness.SettleAsync();

        Assert.That(harness.Loop.View.Nodes["n1"].LastHeartbeat, Is.Not.Null, "the heartbeat was handled");
        Assert.That(harness.Store.Jobs.Values.Select(j => j.RequestId), Is.EquivalentTo(new[] { "held", "w1", "w2" }), "the refused submit left nothing in the store");
        Assert.That(harness.Loop.View.Jobs.Values.Select(j => j.RequestId), Has.None.EqualTo("refused"));
    }

    [Test]
    public async Task A_refused_submit_sent_again_with_its_request_id_is_stored_once()
    {
        await using var harness = await LoopHarness.StartAsync(Options(maxPendingSubmits: 1));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var held = harness.SubmitAsServedAsync("held");
        await harness.Store.Holding.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var waiting = harness.SubmitAsServedAsync("again");

        // The client's retry of a refused call carries the same request id; one of them was already queued.
        await Assert.ThrowsAsync<RpcException>(() => harness.SubmitAsServedAsync("again"));
        release.SetResult();
        await Task.WhenAll(held, waiting).WaitAsync(TimeSpan.FromSeconds(30));
        var retried = await harness.SubmitAsServedAsync("again");

        Assert.That(retried.Job.Id, Is.EqualTo((await waiting).Job.Id));
        Assert.That(retried.Created, Is.False, "the retry found the job its request id made");
        Assert.That(harness.Store.Jobs.Values.Count(j => j.RequestId == "again"), Is.EqualTo(1));
        Assert.That(harness.Store.Writes.SelectMany(w => w).Count(j => j.RequestId == "again" && j.State == JobState.Pending), Is.EqualTo(1), "written once");
    }

    [Test]
    public void Control_plane_events_are_taken_however_many_submits_wait()
    {
        var inbox = new EventInbox(maxSubmits: 1);
        var reply = new TaskCompletionSource<SubmitJobResponse>();

        Assert.That(inbox.Offer(new SubmitJob(new SubmitJobRequest(), reply)), Is.EqualTo(PostOutcome.Posted));
        Assert.That(inbox.Offer(new SubmitJob(new SubmitJobRequest(), reply)), Is.EqualTo(PostOutcome.Full));
        for (var i = 0; i < 10_000; i++)
        {
            Assert.That(inbox.Offer(Tick.Instance), Is.EqualTo(PostOutcome.Posted));
        }

        Assert.That(inbox.TakeBatch().Count(), Is.EqualTo(EventInbox.MaxTaken), "a batch takes up to MaxTaken events, of which at most MaxBatch submits");
        Assert.That(inbox.Submits, Is.Zero, "the submit was taken with the first batch");
        Assert.That(inbox.Offer(new SubmitJob(new SubmitJobRequest(), reply)), Is.EqualTo(PostOutcome.Posted), "room again once taken");
    }

    private static MasterOptions Options(int maxPendingSubmits) =>
        new() { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, MaxPendingSubmits = maxPendingSubmits };
}
