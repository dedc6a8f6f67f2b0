using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests.Store;

/// <summary>
/// What every <see cref="IStateStore"/> promises, run against each store by a subclass that says
/// how to open it (again) on the same backing and how to make a batch fail part-way.
/// </summary>
[CancelAfter(60_000)]
public abstract class StateStoreContractTests
{
    private readonly List<IStateStore> _open = [];

    private protected static CancellationToken Token => TestContext.CurrentContext.CancellationToken;

    [TearDown]
    public async Task CloseStores()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }

        _open.Clear();
    }

    [Test]
    public async Task Epochs_strictly_increase_across_terms_and_reopens()
    {
        var store = await OpenAsync();
        var first = await store.BeginTermAsync(Token);
        var second = await store.BeginTermAsync(Token);
        var third = await (await ReopenAsync(store)).BeginTermAsync(Token);

        Assert.That(new[] { first, second, third }, Is.Ordered.Ascending.And.Unique);
        Assert.That(first, Is.GreaterThan(0));
    }

    [Test]
    public async Task Raising_the_epoch_never_lowers_it()
    {
        var store = await OpenAsync();
        await store.BeginTermAsync(Token);

        Assert.That(await store.RaiseEpochAsync(100, Token), Is.EqualTo(100));
        Assert.That(await store.RaiseEpochAsync(5, Token), Is.EqualTo(100));
        Assert.That(await store.BeginTermAsync(Token), Is.EqualTo(101));

        var reopened = await ReopenAsync(store);
        Assert.That(await reopened.RaiseEpochAsync(50, Token), Is.EqualTo(101));
        Assert.That(await reopened.BeginTermAsync(Token), Is.EqualTo(102));
    }

    [Test]
    public async Task Deleted_jobs_are_gone_after_a_reopen_and_the_others_stay()
    {
        var store = await OpenAsync();
        await store.SaveJobsAsync([StoreRecords.Pending(1), StoreRecords.Running(2), StoreRecords.Pending(3)], Token);

        await store.DeleteJobsAsync([StoreRecords.Pending(1).Id, StoreRecords.Pending(3).Id], Token);

        var loaded = await (await ReopenAsync(store)).LoadAsync(Token);
        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EqualTo(new[] { StoreRecords.Running(2).Id }));
    }

    [Test]
    public async Task The_loop_deletes_finished_jobs_past_the_retention_from_this_store_and_keeps_running_and_pending_ones()
    {
        var store = await OpenAsync();
        var options = new MasterOptions { HeartbeatIntervalMs = 1000, DeadAfterMs = 10_000, ReconnectWindowMs = 0, JobRetention = "30s", RequestIdWindow = "30s", AutoscaleIntervalSeconds = 0 };
        string done, running, waiting, newest;
        await using (var harness = await LoopHarness.StartOnAsync(store, options))
        {
            var n1 = await harness.ConnectAsync("n1", 2);
            done = (await harness.SubmitAsync("done", gpus: 1)).Id;
            harness.Report(n1, done, LoopHarness.Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Exited, exitCode: 0);
            running = (await harness.SubmitAsync("running", gpus: 1)).Id;
            harness.Report(n1, running, LoopHarness.Next(n1, MasterCommand.BodyOneofCase.Start).Start.Attempt, AgentState.Running);
            waiting = (await harness.SubmitAsync("waiting", gpus: 2)).Id;
            newest = (await harness.SubmitAsync("newest", gpus: 2)).Id;
            await harness.CancelAsync(newest);

            await harness.PassAsync(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60), n1);

            Assert.That(harness.Loop.View.Jobs.Keys, Is.EquivalentTo(new[] { running, waiting, newest }), "forgotten in memory");
        }

        var loaded = await (await ReopenAsync(store)).LoadAsync(Token);
        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EquivalentTo(new[] { running, waiting, newest }), "deleted from the store; the newest kept: ids continue after it");
    }

    [Test]
    public async Task Jobs_and_nodes_saved_in_one_group_write_load_back()
    {
        var store = await OpenAsync();
        var jobs = new[] { StoreRecords.Pending(1), StoreRecords.Running(2) };

        // More nodes than one etcd transaction may carry (128 operations): the write is split, and all of it is stored.
        var nodes = Enumerable.Range(0, 300).Select(i => StoreRecords.Node($"node-{i:D3}", cordoned: i % 7 == 0)).ToList();
        await store.SaveAsync(jobs, nodes, Token);

        var loaded = await (await ReopenAsync(store)).LoadAsync(Token);

        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe(jobs)));
        Assert.That(StoreRecords.Describe(loaded.Nodes.OrderBy(n => n.Id, StringComparer.Ordinal)), Is.EqualTo(StoreRecords.Describe(nodes)));
    }

    [Test]
    public async Task Saved_jobs_and_nodes_load_back_field_by_field()
    {
        var store = await OpenAsync();
        var jobs = new[] { StoreRecords.Pending(1), StoreRecords.Running(2), StoreRecords.Pending(3) with { State = JobState.Succeeded, ExitCode = 0 } };
        await store.SaveJobsAsync(jobs, Token);
        await store.SaveNodeAsync(StoreRecords.Node("node-a"), Token);
        await store.SaveNodeAsync(StoreRecords.Node("node-b", cordoned: true), Token);

        var loaded = await (await ReopenAsync(store)).LoadAsync(Token);

        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe(jobs)));
        Assert.That(loaded.Jobs[1].LostAttempt, Is.EqualTo(2));
        Assert.That(loaded.Jobs[1].LostAttemptUncounted, Is.True);
        Assert.That(loaded.Jobs[1].AttemptNodes, Is.EqualTo(new[] { "node-a", "", "node-b" }));
        Assert.That(StoreRecords.Describe(loaded.Nodes), Is.EqualTo(StoreRecords.Describe([StoreRecords.Node("node-a"), StoreRecords.Node("node-b", cordoned: true)])));
    }

    [Test]
    public async Task A_gang_job_loads_back_with_every_replica_after_a_reopen()
    {
        var store = await OpenAsync();
        var spec = StoreRecords.Spec("gang");
        spec.Replicas = 3;
        var gang = StoreRecords.Running(5) with
        {
            Spec = spec,
            RequeueOnExit = false,
            GpuShares = [],
            GpuUuids = [],
            Replicas =
            [
                new ReplicaRecord(0, "node-a", [new Core.Resources.GpuShare(0, 1000)], ["GPU-a0"], "10.0.0.1:29500") { Phase = ReplicaPhase.Running },
                new ReplicaRecord(1, "node-a", [new Core.Resources.GpuShare(1, 1000)], ["GPU-a1"], "10.0.0.1:29501") { Phase = ReplicaPhase.Exited, ExitCode = 0 },
                new ReplicaRecord(2, "node-b", [new Core.Resources.GpuShare(0, 500)], ["GPU-b0"], "10.0.0.2:29500") { Phase = ReplicaPhase.Assigned },
            ],
            LostAttempt = 4,
            LostReplicas =
            [
                new ReplicaRecord(0, "node-c", [new Core.Resources.GpuShare(0, 1000)], ["GPU-c0"], "10.0.0.3:29500") { Phase = ReplicaPhase.Lost },
                new ReplicaRecord(1, "node-a", [new Core.Resources.GpuShare(0, 1000)], ["GPU-a0"], "10.0.0.1:29500") { Phase = ReplicaPhase.Exited, ExitCode = 143, Stopped = true },
                new ReplicaRecord(2, "node-c", [new Core.Resources.GpuShare(1, 1000)], ["GPU-c1"], "10.0.0.3:29501") { Phase = ReplicaPhase.Exited, ExitCode = 0 },
            ],
        };
        await store.SaveJobsAsync([gang], Token);

        var loaded = (await (await ReopenAsync(store)).LoadAsync(Token)).Jobs.Single();

        Assert.That(loaded.Spec.Replicas, Is.EqualTo(3));
        Assert.That(loaded.Replicas, Is.EqualTo(gang.Replicas).Using<ReplicaRecord>(SameReplica));
        Assert.That(loaded.Replicas.Select(r => r.Holds), Is.EqualTo(new[] { true, false, true }));
        Assert.That(loaded.LostAttempt, Is.EqualTo(4));
        Assert.That(loaded.LostReplicas, Is.EqualTo(gang.LostReplicas).Using<ReplicaRecord>(SameReplica), "the given-up attempt's replicas, for a late exit");
    }

    private static bool SameReplica(ReplicaRecord a, ReplicaRecord b) =>
        (a.Rank, a.NodeId, a.Address, a.Phase, a.ExitCode, a.Stopped) == (b.Rank, b.NodeId, b.Address, b.Phase, b.ExitCode, b.Stopped)
        && a.GpuShares.SequenceEqual(b.GpuShares) && a.GpuUuids.SequenceEqual(b.GpuUuids);

    [Test]
    public async Task Jobs_load_in_submission_order()
    {
        var store = await OpenAsync();
        await store.SaveJobsAsync([StoreRecords.Pending(30), StoreRecords.Pending(4)], Token);
        await store.SaveJobsAsync([StoreRecords.Pending(200)], Token);

        var loaded = await store.LoadAsync(Token);

        Assert.That(loaded.Jobs.Select(j => j.Sequence), Is.EqualTo(new long[] { 4, 30, 200 }));
    }

    [Test]
    public async Task Saving_a_job_again_replaces_its_status_and_keeps_its_spec()
    {
        var store = await OpenAsync();
        var original = StoreRecords.Pending(7);
        await store.SaveJobsAsync([original], Token);

        // The spec and identity are written once: a later save cannot change them, even on a new store object.
        var changed = StoreRecords.Running(7) with { RequestId = "other", Sequence = 99, Spec = StoreRecords.Spec("renamed") };
        await store.SaveJobsAsync([changed], Token);
        var reopened = await ReopenAsync(store);
        await reopened.SaveJobsAsync([changed with { Message = "after reopen" }], Token);

        var loaded = (await reopened.LoadAsync(Token)).Jobs.Single();

        Assert.That(loaded.State, Is.EqualTo(JobState.Running));
        Assert.That(loaded.Message, Is.EqualTo("after reopen"));
        Assert.That(loaded.Spec, Is.EqualTo(original.Spec));
        Assert.That(loaded.RequestId, Is.EqualTo(original.RequestId));
        Assert.That(loaded.Sequence, Is.EqualTo(original.Sequence));
    }

    [Test]
    public async Task Saving_a_node_again_replaces_it()
    {
        var store = await OpenAsync();
        await store.SaveNodeAsync(StoreRecords.Node("node-a"), Token);
        await store.SaveNodeAsync(StoreRecords.Node("node-a", cordoned: true), Token);

        var loaded = await store.LoadAsync(Token);

        Assert.That(loaded.Nodes.Single().Cordoned, Is.True);
    }

    [Test]
    public async Task A_batch_that_fails_stores_none_of_its_jobs()
    {
        var store = await OpenAsync();
        await store.BeginTermAsync(Token);
        var before = StoreRecords.Pending(1);
        await store.SaveJobsAsync([before], Token);

        List<JobRecord> batch = [StoreRecords.Running(1), StoreRecords.Pending(2), StoreRecords.Pending(3)];
        var failure = await MakeBatchFailAsync(store, batch);

        Assert.That(async () => await store.SaveJobsAsync(batch, Token), Throws.InstanceOf(failure));
        var loaded = await (await ReopenAsync(store)).LoadAsync(Token);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([before])));
    }

    [Test]
    public async Task A_reopened_store_sees_everything_written_before()
    {
        var store = await OpenAsync();
        var epoch = await store.BeginTermAsync(Token);
        await store.SaveJobsAsync([StoreRecords.Pending(1), StoreRecords.Pending(2)], Token);
        await store.SaveJobsAsync([StoreRecords.Running(2)], Token);
        await store.SaveJobsAsync([], Token);
        await store.SaveNodeAsync(StoreRecords.Node("node-a"), Token);

        var reopened = await ReopenAsync(store);
        var loaded = await reopened.LoadAsync(Token);

        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([StoreRecords.Pending(1), StoreRecords.Running(2)])));
        Assert.That(StoreRecords.Describe(loaded.Nodes), Is.EqualTo(StoreRecords.Describe([StoreRecords.Node("node-a")])));
        Assert.That(await reopened.BeginTermAsync(Token), Is.GreaterThan(epoch));
    }

    [Test]
    public async Task An_empty_store_loads_nothing()
    {
        var loaded = await (await OpenAsync()).LoadAsync(Token);

        Assert.That(loaded.Jobs, Is.Empty);
        Assert.That(loaded.Nodes, Is.Empty);
    }

    /// <summary>Opens the store of this test (empty at first; the same backing on later calls).</summary>
    private protected async Task<IStateStore> OpenAsync()
    {
        var store = await OpenStoreAsync(Token);
        _open.Add(store);
        return store;
    }

    /// <summary>Closes <paramref name="store"/> and opens its backing again, as a restarted master would.</summary>
    private protected async Task<IStateStore> ReopenAsync(IStateStore store)
    {
        _open.Remove(store);
        await store.DisposeAsync();
        return await OpenAsync();
    }

    private protected abstract Task<IStateStore> OpenStoreAsync(CancellationToken cancellationToken);

    /// <summary>Arranges that saving <paramref name="batch"/> fails after part of it could be written; returns the exception type expected.</summary>
    private protected abstract Task<Type> MakeBatchFailAsync(IStateStore store, List<JobRecord> batch);
}
