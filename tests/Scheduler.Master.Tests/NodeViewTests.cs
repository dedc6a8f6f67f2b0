using Scheduler.Contracts.V1;

namespace Scheduler.Master.Tests;

/// <summary>What readers of the published view (`schedctl nodes`, the status page) see of a node.</summary>
[TestFixture]
public sealed class NodeViewTests
{
    [Test]
    public async Task A_node_s_view_names_the_jobs_on_each_gpu_and_carries_each_gpu_s_latest_telemetry()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await harness.ConnectAsync("n1", 2, migratable: false);
        var job = await harness.SubmitAsync("one-gpu", gpus: 1);
        await harness.SettleAsync();

        var placed = harness.Loop.View.Nodes["n1"];
        Assert.That(placed.JobIds, Is.EqualTo(new[] { job.Id }));
        Assert.That(placed.Gpus.SelectMany(g => g.JobIds), Is.EqualTo(new[] { job.Id }), "on the one GPU it holds");

        var heartbeat = new Heartbeat { Sequence = 2 };
        heartbeat.Gpus.Add(new GpuTelemetry { Index = 1, UtilizationPercent = 87, TemperatureC = 61 });
        harness.Send(n1, new WorkerMessage { Heartbeat = heartbeat });
        await harness.SettleAsync();

        var node = harness.Loop.View.Nodes["n1"];
        Assert.That(node.Gpus.Select(g => g.Telemetry?.UtilizationPercent), Is.EqualTo(new uint?[] { null, 87u }));
        Assert.That(node.Gpus[1].Telemetry.TemperatureC, Is.EqualTo(61u));
        Assert.That(node.Gpus.Select(g => g.Info.Index), Is.EqualTo(new[] { 0, 1 }), "each GPU described");
    }
}
