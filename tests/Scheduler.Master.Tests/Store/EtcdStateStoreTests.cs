using System.Diagnostics;
using dotnet_etcd;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using Scheduler.Tests.Common;

namespace Scheduler.Master.Tests.Store;

/// <summary>What only the etcd store does: fencing on a leader key, limits of etcd, and etcd going away.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class EtcdStateStoreTests() : EtcdFixture("store")
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(2);

    [Test]
    public async Task Fenced_writes_commit_while_the_leader_key_exists_and_are_refused_once_it_is_gone()
    {
        await using var store = await OpenAsync();
        store.Fence = await CreateFenceAsync("leader");
        await store.BeginTermAsync(Token);
        await store.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        await store.SaveNodeAsync(StoreRecords.Node("node-a"), Token);

        await Client.DeleteAsync(store.Fence.Key, cancellationToken: Token);

        Assert.That(async () => await store.SaveJobsAsync([StoreRecords.Running(1), StoreRecords.Pending(2)], Token), Throws.TypeOf<LeadershipLostException>());
        Assert.That(async () => await store.SaveNodeAsync(StoreRecords.Node("node-a", cordoned: true), Token), Throws.TypeOf<LeadershipLostException>());
        Assert.That(async () => await store.BeginTermAsync(Token), Throws.TypeOf<LeadershipLostException>());
        Assert.That(async () => await store.RaiseEpochAsync(1000, Token), Throws.TypeOf<LeadershipLostException>());
        var loaded = await store.LoadAsync(Token);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([StoreRecords.Pending(1)])));
        Assert.That(loaded.Nodes.Single().Cordoned, Is.False);
    }

    [Test]
    public async Task A_leader_key_made_again_by_a_newer_term_refuses_the_old_terms_writes()
    {
        await using var oldTerm = await OpenAsync();
        oldTerm.Fence = await CreateFenceAsync("leader");
        var oldEpoch = await oldTerm.BeginTermAsync(Token);

        // The old leader's key expired and the next leader made the same key: same name, newer create revision.
        await Client.DeleteAsync(oldTerm.Fence.Key, cancellationToken: Token);
        await using var newTerm = await OpenAsync();
        newTerm.Fence = await CreateFenceAsync("leader");
        var newEpoch = await newTerm.BeginTermAsync(Token);
        await newTerm.SaveJobsAsync([StoreRecords.Running(1)], Token);

        Assert.That(async () => await oldTerm.SaveJobsAsync([StoreRecords.Pending(1) with { Message = "stale" }], Token), Throws.TypeOf<LeadershipLostException>());
        Assert.That(newEpoch, Is.GreaterThan(oldEpoch));
        var loaded = await newTerm.LoadAsync(Token);
        Assert.That(loaded.Jobs.Single().State, Is.EqualTo(JobState.Running));
    }

    [Test]
    public async Task A_batch_larger_than_one_transaction_is_written_in_several_and_loads_back_in_pages()
    {
        await using var store = await OpenAsync();
        var jobs = Enumerable.Range(1, 1200).Select(i => i % 3 == 0 ? StoreRecords.Running(i) : StoreRecords.Pending(i)).ToList();

        // 1200 new jobs take two operations each: about twenty transactions of at most 128 operations.
        await store.SaveJobsAsync(jobs, Token);
        await store.SaveJobsAsync(jobs.Select(j => j with { Message = "seen" }).ToList(), Token);

        await using var reopened = await OpenAsync();
        var loaded = await reopened.LoadAsync(Token);
        Assert.That(loaded.Jobs, Has.Count.EqualTo(1200));
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe(jobs.Select(j => j with { Message = "seen" }))));
    }

    [Test]
    public async Task A_job_twice_in_one_batch_is_stored_as_its_last_record()
    {
        await using var store = await OpenAsync();

        await store.SaveJobsAsync([StoreRecords.Pending(1), StoreRecords.Running(1)], Token);

        var loaded = await store.LoadAsync(Token);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([StoreRecords.Running(1)])));
    }

    [Test]
    public async Task Stores_under_different_prefixes_do_not_see_each_other()
    {
        await using var first = await OpenAsync();
        await first.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        var firstEpoch = await first.BeginTermAsync(Token);
        NewPrefix();
        await using var second = await OpenAsync();

        var loaded = await second.LoadAsync(Token);

        Assert.That(loaded.Jobs, Is.Empty);
        Assert.That(await second.BeginTermAsync(Token), Is.EqualTo(1));
        Assert.That(firstEpoch, Is.EqualTo(1));
    }

    [Test]
    public async Task Writes_and_reads_report_unavailable_within_the_deadline_while_etcd_is_down_and_work_when_it_returns()
    {
        await using var etcd = await EtcdCluster.StartAsync("down");
        await using var store = await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = etcd.Endpoints, Prefix = Prefix, CallTimeout = CallTimeout }, Token);
        await store.SaveJobsAsync([StoreRecords.Pending(1)], Token);

        await etcd.Members[0].StopAsync();

        var clock = Stopwatch.StartNew();
        Assert.That(async () => await store.SaveJobsAsync([StoreRecords.Running(1)], Token), Throws.TypeOf<StoreUnavailableException>().With.Message.Contains(etcd.Endpoints));
        Assert.That(async () => await store.LoadAsync(Token), Throws.TypeOf<StoreUnavailableException>());
        Assert.That(async () => await store.BeginTermAsync(Token), Throws.TypeOf<StoreUnavailableException>());
        Assert.That(clock.Elapsed, Is.LessThan(3 * (CallTimeout + TimeSpan.FromSeconds(1))));

        await etcd.RestartAsync(etcd.Members[0]);
        await Eventually.TrueAsync(() => SavesAsync(store, StoreRecords.Running(1)), "a save to succeed once etcd is back", TimeSpan.FromSeconds(20));
        Assert.That((await store.LoadAsync(Token)).Jobs.Single().State, Is.EqualTo(JobState.Running));
    }

    [Test]
    public async Task Writes_go_on_when_the_leader_of_three_etcd_members_is_killed()
    {
        await using var etcd = await EtcdCluster.StartAsync("three", size: 3);
        await using var store = await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = etcd.Endpoints, Prefix = Prefix, CallTimeout = CallTimeout }, Token);
        var epoch = await store.BeginTermAsync(Token);
        await store.SaveJobsAsync([StoreRecords.Pending(1)], Token);

        await (await LeaderOfAsync(etcd)).KillAsync();

        // The survivors elect a leader within about half a second; a write in between may be refused as unavailable.
        await Eventually.TrueAsync(() => SavesAsync(store, StoreRecords.Running(1)), "a save to succeed on the two surviving members", TimeSpan.FromSeconds(20));
        Assert.That(await store.BeginTermAsync(Token), Is.GreaterThan(epoch));
        Assert.That((await store.LoadAsync(Token)).Jobs.Single().State, Is.EqualTo(JobState.Running));
    }

    [Test]
    public void Opening_with_no_etcd_listening_reports_unavailable()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var endpoint = "http://" + closed.LocalEndpoint;
        closed.Stop();

        var clock = Stopwatch.StartNew();
        Assert.That(
            async () => await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = endpoint, CallTimeout = CallTimeout }, Token),
            Throws.TypeOf<StoreUnavailableException>().With.Message.Contains(endpoint));
        Assert.That(clock.Elapsed, Is.LessThan(CallTimeout + TimeSpan.FromSeconds(3)));
    }

    [Test]
    public void Endpoints_without_a_scheme_are_refused()
    {
        Assert.That(
            async () => await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = "127.0.0.1:2379" }, Token),
            Throws.TypeOf<StoreException>().With.Message.Contains("http://"));
    }

    private async Task<EtcdStateStore> OpenAsync() =>
        await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = Etcd.Endpoints, Prefix = Prefix, CallTimeout = CallTimeout }, Token);

    private static async Task<EtcdMember> LeaderOfAsync(EtcdCluster etcd)
    {
        foreach (var member in etcd.Members)
        {
            using var client = new EtcdClient(member.ClientUrl);
            var status = await client.StatusAsync(new Etcdserverpb.StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: Token);
            if (status.Leader == status.Header.MemberId)
            {
                return member;
            }
        }

        throw new InvalidOperationException("no etcd member says it leads:" + Environment.NewLine + etcd.ReadLogs());
    }

    private async Task<EtcdFence> CreateFenceAsync(string name)
    {
        var key = Prefix + name;
        var put = await Client.PutAsync(key, "a master", cancellationToken: Token);
        return new EtcdFence(key, put.Header.Revision);
    }

    /// <summary>True when the save went through, false while etcd answers unavailable.</summary>
    private static async Task<bool> SavesAsync(EtcdStateStore store, JobRecord record)
    {
        try
        {
            await store.SaveJobsAsync([record], Token);
            return true;
        }
        catch (StoreUnavailableException)
        {
            return false;
        }
    }
}
