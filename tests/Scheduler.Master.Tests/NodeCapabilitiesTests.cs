using System.Text.Json;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>The capabilities a worker reports at registration, kept on its node and shown to operators.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class NodeCapabilitiesTests
{
    // As both stores read their rows.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Test]
    public async Task Capabilities_reported_at_registration_are_stored_and_shown_on_the_node()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = new WorkerSession("n1", "test");
        var registration = new RegisterWorker { NodeId = "n1", Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 } };
        registration.Capabilities.Add(["keeper", "cgroup.memory", "cgroup.cpu"]);

        harness.Loop.Post(new WorkerConnected(session, registration));
        await LoopHarness.NextAsync(session);
        await harness.SettleAsync();

        var expected = new[] { "cgroup.cpu", "cgroup.memory", "keeper" };
        Assert.That(harness.Loop.View.Nodes["n1"].Capabilities, Is.EqualTo(expected));
        var stored = await harness.Store.LoadAsync(CancellationToken.None);
        Assert.That(stored.Nodes.Single().Capabilities, Is.EqualTo(expected));
    }

    [Test]
    public void A_node_row_stored_before_capabilities_loads_with_none()
    {
        const string old = """
            {"id":"n1","hostname":"h","cpuMillis":1000,"memoryMib":1024,"gpus":[],"labels":{},"cordoned":false,"draining":false,"workerVersion":"1.0","transferAddress":""}
            """;

        var node = JsonSerializer.Deserialize<NodeRecord>(old, Json);

        Assert.That(node!.Capabilities, Is.Empty);
    }
}
