using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// Registrations join the loop's group write: those of one inbox batch store their node records in
/// one write, a worker is answered only once its record is durable, a failed write answers none and
/// changes nothing, and a worker that registers again unchanged costs no write at all.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class RegistrationGroupTests
{
    [Test]
    public async Task Registrations_of_one_batch_store_their_nodes_in_one_write()
    {
        await using var harness = await StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A submit's write holds the loop, so the registrations posted meanwhile arrive as one batch.
        harness.Store.HoldWrites(release.Task);
        var submitted = harness.SubmitAsync("holds-the-loop");
        await harness.Store.Holding.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var sessions = Enumerable.Range(0, 20).Select(i => new WorkerSession($"n{i:D2}", "test")).ToList();
        foreach (var session in sessions)
        {
            harness.Loop.Post(new WorkerConnected(session, Registration(session.NodeId)));
        }

        harness.Store.Hold = null;
        release.SetResult();
        await submitted;
        foreach (var session in sessions)
        {
            Assert.That((await NextAsync(session)).BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.Registered));
        }

        Assert.That(harness.Store.NodeWrites, Has.Count.EqualTo(1), "one write for the batch, not one per registration");
        Assert.That(harness.Store.NodeWrites[0].Select(n => n.Id), Is.EquivalentTo(sessions.Select(s => s.NodeId)));
    }

    [Test]
    public async Task A_worker_that_registers_again_unchanged_writes_nothing_and_is_answered()
    {
        await using var harness = await StartAsync();
        var first = await harness.ConnectAsync("n1", gpus: 4);
        Assert.That(harness.Store.NodeWrites, Has.Count.EqualTo(1));

        // The same host on a new stream (a reconnect): the record built from it equals the stored one by value.
        var again = await harness.ConnectAsync("n1", gpus: 4);

        Assert.That(harness.Store.NodeWrites, Has.Count.EqualTo(1), "nothing stored changed");
        Assert.That(first.Closed.IsCancellationRequested, Is.True, "the new stream replaced the old");
        Assert.That(again.Closed.IsCancellationRequested, Is.False);
        Assert.That(harness.Loop.View.Nodes["n1"].Health, Is.EqualTo(NodeHealth.Ready));
    }

    [Test]
    public async Task A_worker_that_registers_again_changed_is_stored_again()
    {
        await using var harness = await StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);

        await harness.ConnectAsync("n1", gpus: 2);

        Assert.That(harness.Store.NodeWrites, Has.Count.EqualTo(2));
        Assert.That(harness.Store.Nodes["n1"].Gpus, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task A_registration_whose_write_fails_is_not_answered_changes_nothing_and_its_stream_is_closed()
    {
        await using var harness = await StartAsync();
        harness.Store.FailNodeWrites = true;
        var refused = new WorkerSession("n1", "test");

        harness.Loop.Post(new WorkerConnected(refused, Registration("n1")));
        await ClosedAsync(refused);
        await harness.SettleAsync();

        Assert.That(Drain(refused).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Registered), Is.Empty, "acknowledged nothing");
        Assert.That(harness.Loop.View.Nodes.ContainsKey("n1"), Is.False, "nothing in memory");
        Assert.That(harness.Store.Nodes.ContainsKey("n1"), Is.False);

        // Once the store takes writes again, the worker's next registration goes through.
        harness.Store.FailNodeWrites = false;
        await harness.ConnectAsync("n1", gpus: 4);
        Assert.That(harness.Loop.View.Nodes["n1"].Health, Is.EqualTo(NodeHealth.Ready));
    }

    [Test]
    public async Task A_failed_registration_write_leaves_a_known_node_and_its_live_session_as_they_were()
    {
        await using var harness = await StartAsync();
        var live = await harness.ConnectAsync("n1", gpus: 4);
        harness.Store.FailNodeWrites = true;
        var reshaped = new WorkerSession("n1", "test");

        harness.Loop.Post(new WorkerConnected(reshaped, Registration("n1", gpus: 2)));
        await ClosedAsync(reshaped);
        await harness.SettleAsync();

        Assert.That(live.Closed.IsCancellationRequested, Is.False, "not replaced by a registration that was not stored");
        Assert.That(harness.Loop.View.Nodes["n1"].Gpus, Has.Count.EqualTo(4));
        Assert.That(harness.Store.Nodes["n1"].Gpus, Has.Count.EqualTo(4));
    }

    /// <summary>Waits (30 s at most) until the loop closed <paramref name="session"/>.</summary>
    private static async Task ClosedAsync(WorkerSession session)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = session.Closed.Register(() => closed.TrySetResult());
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static RegisterWorker Registration(string nodeId, int gpus = 4)
    {
        var registration = new RegisterWorker { NodeId = nodeId, Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 } };
        for (var i = 0; i < gpus; i++)
        {
            registration.Gpus.Add(new GpuInfo { Index = i, Uuid = $"GPU-{nodeId}-{i}", Model = "A100", MemoryMib = 40960 });
        }

        return registration;
    }
}
