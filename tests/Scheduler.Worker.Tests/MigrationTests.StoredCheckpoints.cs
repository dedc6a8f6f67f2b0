using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Worker.Tests;

/// <summary>Stored checkpoints (suspend, preemption, periodic replication) and shipping them to where a job resumes.</summary>
public sealed partial class MigrationTests
{
    [Test]
    public async Task Checkpoint_with_stop_is_stored_here_and_on_the_peer_before_the_agent_stops(CancellationToken ct)
    {
        var running = await StartCounterAsync(_source, attempt: 1, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= 3, "the counter to count");
        await _source.HandleAsync(Expect("c-1", Token), ct);
        await _target.HandleAsync(Expect("c-1", Token), ct);

        await _source.HandleAsync(CheckpointAgent("c-1", stop: true, _source, _target), ct);
        var report = (await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;
        var exit = await _source.EventAsync(s => s.Attempt == 1 && s.State == AgentState.Exited, Generous);

        Assert.That(report.Error, Is.Empty);
        Assert.That(report.Ok, Is.True);
        Assert.That(report.StoredOn, Is.EqualTo(new[] { "source", "target" }));
        Assert.That(report.AgentStopped, Is.True);
        Assert.That(report.Bytes, Is.GreaterThan(0));
        Assert.That(report.TakenAt, Is.Not.Null);
        Assert.That(exit.Migrated, Is.True, "the exit says the job's state is kept elsewhere, not that it ended");
        Assert.That(TestPosix.IsAlive(running.Pid), Is.False);
        var onSource = StoredCounter(_source, "c-1");
        Assert.That(StoredCounter(_target, "c-1"), Is.EqualTo(onSource), "both copies hold the same state");
        Assert.That(Ledger()[^1], Is.EqualTo(onSource), "nothing counted after the final checkpoint");
    }

    [Test]
    public async Task Periodic_checkpoint_replicates_to_the_peer_while_the_agent_runs_on(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= 2, "the counter to count");
        await _target.HandleAsync(Expect("c-2", Token), ct);

        await _source.HandleAsync(CheckpointAgent("c-2", stop: false, _target), ct);
        var report = (await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;

        Assert.That(report.Error, Is.Empty);
        Assert.That(report.Ok, Is.True);
        Assert.That(report.StoredOn, Is.EqualTo(new[] { "target" }));
        Assert.That(report.AgentStopped, Is.False);
        Assert.That(StoredCounter(_target, "c-2"), Is.GreaterThanOrEqualTo(2));
        await AssertStillCountingAsync(attempt: 1);
    }

    [Test]
    public async Task Stored_checkpoint_shipped_to_another_worker_resumes_the_counter_there(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= 3, "the counter to count");
        await _target.HandleAsync(Expect("c-3", Token), ct);
        await _source.HandleAsync(CheckpointAgent("c-3", stop: true, _target), ct);
        Assert.That((await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport.Ok, Is.True);
        var stored = StoredCounter(_target, "c-3");

        // The job is placed back on the source, which no longer has its state: the holder ships it.
        await _source.HandleAsync(Expect("s-3", "ship-token"), ct);
        await _target.HandleAsync(new MasterCommand
        {
            ShipCheckpoint = new ShipCheckpoint { CheckpointId = "c-3", ShipmentId = "s-3", TargetAddress = _source.TransferAddress, Token = "ship-token", JobId = Job, Attempt = 2 },
        }, ct);
        var shipped = (await _target.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;
        Assert.That(shipped.Error, Is.Empty);
        Assert.That(shipped.Ok, Is.True);
        Assert.That(shipped.Shipment, Is.True);
        Assert.That(shipped.CheckpointId, Is.EqualTo("s-3"));

        var resume = Counter(attempt: 2);
        resume.RestoreMigration = "s-3";
        await _source.HandleAsync(new MasterCommand { Start = resume }, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= stored + 3, "the counter to count again");

        var ledger = Ledger();
        Assert.That(ledger, Is.EqualTo(Enumerable.Range(1, ledger.Count).Select(i => (long)i)), "resumed right after the stored value");
    }

    [Test]
    public async Task Stop_checkpoint_no_target_stores_stops_the_agent_as_the_host_and_fails(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);

        await _source.HandleAsync(CheckpointAgent("c-4", stop: true, new CheckpointTarget { NodeId = "nobody", Address = UnusedLoopbackAddress() }), ct);
        var report = (await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;
        var exit = await _source.EventAsync(s => s.Attempt == 1 && s.State == AgentState.Exited, Generous);

        Assert.That(report.Ok, Is.False);
        Assert.That(report.Error, Does.Contain("nobody"));
        Assert.That(report.SourceStopped, Is.True, "frozen by its final checkpoint, it does not carry on");
        Assert.That(exit.HostStop, Is.True, "requeued by the master, not failed");
        Assert.That(exit.Migrated, Is.False);
    }

    [Test]
    public async Task A_peer_that_fails_costs_only_its_copy_the_nodes_own_copy_keeps_the_checkpoint(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= 3, "the counter to count");
        await _source.HandleAsync(Expect("c-7", Token), ct);

        await _source.HandleAsync(CheckpointAgent("c-7", stop: true,
            new CheckpointTarget { NodeId = "source", Address = _source.TransferAddress }, new CheckpointTarget { NodeId = "nobody", Address = UnusedLoopbackAddress() }), ct);
        var report = (await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;

        Assert.That(report.Ok, Is.True, report.Error);
        Assert.That(report.StoredOn, Is.EqualTo(new[] { "source" }));
        Assert.That(report.Error, Does.StartWith("nobody: "), "the failed peer is named");
        Assert.That(report.AgentStopped, Is.True);
        Assert.That(StoredCounter(_source, "c-7"), Is.EqualTo(Ledger()[^1]));
    }

    [Test]
    public async Task Periodic_checkpoint_that_no_target_stores_leaves_the_agent_running(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        await _target.HandleAsync(Expect("c-5", "the-right-token"), ct);

        await _source.HandleAsync(CheckpointAgent("c-5", stop: false, _target), ct);
        var report = (await _source.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;

        Assert.That(report.Ok, Is.False);
        Assert.That(report.Error, Does.Contain("PermissionDenied").Or.Contain("Unauthenticated"));
        Assert.That(report.SourceStopped, Is.False);
        await AssertStillCountingAsync(attempt: 1);
    }

    [Test]
    public async Task Shipping_a_checkpoint_not_stored_here_is_refused_naming_it(CancellationToken ct)
    {
        await _target.HandleAsync(new MasterCommand
        {
            ShipCheckpoint = new ShipCheckpoint { CheckpointId = "c-none", ShipmentId = "s-6", TargetAddress = _source.TransferAddress, Token = Token, JobId = Job, Attempt = 2 },
        }, ct);
        var report = (await _target.SentAsync(m => m.CheckpointReport is not null, Generous)).CheckpointReport;

        Assert.That(report.Ok, Is.False);
        Assert.That(report.Error, Is.EqualTo("checkpoint c-none is not stored on this worker"));
    }

    private static MasterCommand CheckpointAgent(string id, bool stop, params MigrationNode[] targets) =>
        CheckpointAgent(id, stop, [.. targets.Select(t => new CheckpointTarget { NodeId = t.NodeId, Address = t.TransferAddress })]);

    private static MasterCommand CheckpointAgent(string id, bool stop, params CheckpointTarget[] targets)
    {
        var command = new CheckpointAgent { CheckpointId = id, JobId = Job, Attempt = 1, Token = Token, Stop = stop };
        command.Targets.Add(targets);
        return new MasterCommand { CheckpointAgent = command };
    }

    private static long StoredCounter(MigrationNode node, string id)
    {
        var restore = Path.Combine(node.DataDir, "restore", id);
        Assert.That(File.Exists(Path.Combine(restore, CheckpointContract.CompleteFile)), Is.True, $"checkpoint {id} is committed on {node.NodeId}");
        return long.Parse(File.ReadAllText(Path.Combine(restore, "counter")).Trim(), CultureInfo.InvariantCulture);
    }
}
