using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// Silence is judged from when a node's stream last heard from it (the gateway notes each message
/// and acknowledges heartbeats as they arrive), not from what the loop has got round to handling:
/// a loop that falls behind neither fences its workers nor declares them dead.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class HeardFromTests
{
    [Test]
    public async Task A_node_its_stream_keeps_hearing_from_stays_ready_and_keeps_its_job_while_the_loop_handles_none_of_its_heartbeats()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 1);
        var job = await harness.SubmitAsync("long", gpus: 1);
        harness.Report(n1, job.Id, Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        for (var i = 0; i < 30; i++)
        {
            n1.Heard(harness.Time.GetUtcNow());
            await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
        }

        Assert.That(harness.Loop.View.Nodes["n1"].Health, Is.EqualTo(Contracts.V1.NodeHealth.Ready), "30 s past dead-after (10 s) by the loop's own count");
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running), "its job was not lost");
        Assert.That(n1.Closed.IsCancellationRequested, Is.False);
    }

    [Test]
    public async Task A_node_its_stream_stops_hearing_from_is_declared_dead_and_its_session_closed()
    {
        await using var harness = await StartAsync();
        var n1 = await harness.ConnectAsync("n1", 1);
        n1.Heard(harness.Time.GetUtcNow());

        for (var i = 0; i < 12; i++)
        {
            await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
        }

        Assert.That(harness.Loop.View.Nodes["n1"].Health, Is.EqualTo(Contracts.V1.NodeHealth.Dead));
        Assert.That(n1.Closed.IsCancellationRequested, Is.True, "cut, so a heartbeat arriving now is not acknowledged");
        Assert.That(n1.Heard(harness.Time.GetUtcNow(), new MasterCommand { HeartbeatAck = new HeartbeatAck { Sequence = 1 } }), Is.False);
    }
}
