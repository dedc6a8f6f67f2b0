using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// A registration whose stream ended before the loop handled it (its worker gave up waiting) is
/// skipped: it neither replaces the node's live session nor reconciles its jobs away.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AbandonedRegistrationTests
{
    [Test]
    public async Task A_registration_whose_stream_already_ended_leaves_the_node_its_session_and_its_job()
    {
        await using var harness = await StartAsync();
        var live = await harness.ConnectAsync("n1", gpus: 4);
        var job = await harness.SubmitAsync("kept", gpus: 4);
        harness.Report(live, job.Id, Next(live, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
        await harness.SettleAsync();

        // Reports no agents: handled, it would have taken the job as no longer running there.
        var abandoned = new WorkerSession("n1", "test");
        abandoned.Close();
        harness.Loop.Post(new WorkerConnected(abandoned, Registration("n1")));
        await harness.SettleAsync();

        Assert.That(live.Closed.IsCancellationRequested, Is.False, "not replaced");
        Assert.That(harness.Loop.View.Nodes["n1"].Health, Is.EqualTo(NodeHealth.Ready));
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
    }

    [Test]
    public async Task A_new_node_whose_stream_already_ended_is_not_registered()
    {
        await using var harness = await StartAsync();
        var abandoned = new WorkerSession("n9", "test");
        abandoned.Close();

        harness.Loop.Post(new WorkerConnected(abandoned, Registration("n9")));
        await harness.SettleAsync();

        Assert.That(harness.Loop.View.Nodes.ContainsKey("n9"), Is.False);
    }

    private static RegisterWorker Registration(string nodeId)
    {
        var registration = new RegisterWorker { NodeId = nodeId, Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 } };
        for (var i = 0; i < 4; i++)
        {
            registration.Gpus.Add(new GpuInfo { Index = i, Uuid = $"GPU-{nodeId}-{i}", Model = "A100", MemoryMib = 40960 });
        }

        return registration;
    }
}
