using dotnet_etcd;
using Etcdserverpb;
using Scheduler.Master.Store;
using Scheduler.Tests.Common;

namespace Scheduler.Master.Tests.Store;

/// <summary>
/// A standby store that follows etcd with a watch: what another store writes reaches its copy,
/// and a takeover loads from that copy instead of reading every key again.
/// </summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class EtcdMirrorTests() : EtcdFixture("mirror")
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);

    [Test]
    public async Task A_follower_loads_what_another_store_wrote_from_its_mirror_without_reading_every_key_again()
    {
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(Etcd.Endpoints);
        follower.StartFollowing();
        follower.StartFollowing();

        await leader.BeginTermAsync(Token);
        await leader.SaveJobsAsync([StoreRecords.Pending(1), StoreRecords.Running(2)], Token);
        await leader.SaveJobsAsync([StoreRecords.Running(1)], Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-b"), Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-a", cordoned: true), Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        var loaded = await follower.LoadAsync(Token);

        var expected = await leader.LoadAsync(Token);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe(expected.Jobs)));
        Assert.That(StoreRecords.Describe(loaded.Nodes), Is.EqualTo(StoreRecords.Describe(expected.Nodes)));
        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EqualTo(new[] { "j-000001", "j-000002" }));
        Assert.That(follower.FullReads, Is.EqualTo(1), "only the mirror's first snapshot reads every key");
    }

    [Test]
    public async Task A_load_waits_for_writes_committed_just_before_it()
    {
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(Etcd.Endpoints);
        follower.StartFollowing();
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        // No waiting for the mirror here: the load itself must see the write that returned before it.
        await leader.SaveJobsAsync([StoreRecords.Pending(7)], Token);
        var loaded = await follower.LoadAsync(Token);

        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EqualTo(new[] { "j-000007" }));
    }

    [Test]
    public async Task A_deleted_key_disappears_from_the_mirror()
    {
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(Etcd.Endpoints);
        follower.StartFollowing();
        await leader.SaveJobsAsync([StoreRecords.Pending(1), StoreRecords.Pending(2)], Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-a"), Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-b"), Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        await Client.DeleteAsync(Prefix + "nodes/node-a", cancellationToken: Token);
        await Client.DeleteAsync(Prefix + "jobs/j-000001", cancellationToken: Token);
        await Client.DeleteAsync(Prefix + "specs/j-000001", cancellationToken: Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        var loaded = await follower.LoadAsync(Token);
        Assert.That(loaded.Nodes.Select(n => n.Id), Is.EqualTo(new[] { "node-b" }));
        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EqualTo(new[] { "j-000002" }));
        Assert.That(follower.FullReads, Is.EqualTo(1));
    }

    [Test]
    public async Task A_broken_record_in_the_mirror_fails_the_load_as_a_snapshot_would()
    {
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(Etcd.Endpoints);
        follower.StartFollowing();
        await leader.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        await Client.DeleteAsync(Prefix + "specs/j-000001", cancellationToken: Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        Assert.That(async () => await follower.LoadAsync(Token), Throws.TypeOf<StoreException>().With.Message.Contains("specs/j-000001"));
        Assert.That(follower.FullReads, Is.EqualTo(1));
    }

    [Test]
    public async Task A_follower_watches_again_from_its_last_revision_when_etcd_restarts()
    {
        await using var etcd = await EtcdCluster.StartAsync("mirror-restart");
        using var client = new EtcdClient(etcd.Endpoints);
        await using var leader = await OpenAsync(etcd.Endpoints);
        await using var follower = await OpenAsync(etcd.Endpoints);
        follower.StartFollowing();
        await leader.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        await CaughtUpAsync(follower, await RevisionAsync(client));

        await etcd.Members[0].StopAsync();
        await etcd.RestartAsync(etcd.Members[0]);

        // Written as soon as etcd is back, most likely before the follower watches again: only a
        // watch from its last revision (not from "now") sees these.
        await Eventually.TrueAsync(
            async () =>
            {
                await leader.SaveJobsAsync([StoreRecords.Running(1), StoreRecords.Pending(2)], Token);
                return true;
            },
            "a save to succeed once etcd is back",
            Generous);
        await leader.SaveNodeAsync(StoreRecords.Node("node-a"), Token);
        await CaughtUpAsync(follower, await RevisionAsync(client));

        var loaded = await follower.LoadAsync(Token);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([StoreRecords.Running(1), StoreRecords.Pending(2)])));
        Assert.That(loaded.Nodes.Select(n => n.Id), Is.EqualTo(new[] { "node-a" }));
        Assert.That(follower.FullReads, Is.EqualTo(1), "the follower watched again instead of reading every key");
    }

    [Test]
    public async Task A_follower_whose_revisions_were_compacted_while_it_was_cut_off_reads_a_snapshot_again()
    {
        await using var link = new TcpBlackhole(new Uri(Etcd.Members[0].ClientUrl));
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(link.Url);
        follower.StartFollowing();
        await leader.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-a"), Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        link.Cut();
        await leader.SaveJobsAsync([StoreRecords.Running(1), StoreRecords.Pending(2)], Token);
        await Client.DeleteAsync(Prefix + "nodes/node-a", cancellationToken: Token);
        await leader.SaveNodeAsync(StoreRecords.Node("node-b"), Token);
        var compacted = await RevisionAsync(Client);
        await Client.CompactAsync(new CompactionRequest { Revision = compacted, Physical = true }, cancellationToken: Token);
        link.Heal();

        await Eventually.TrueAsync(() => follower.FullReads == 2 && follower.MirrorRevision >= compacted, "the follower to read a snapshot after the compaction", Generous);
        var loaded = await Eventually.ReturnsAsync<StoredState>(async () => await follower.LoadAsync(Token), "a load through the healed link", Generous);
        Assert.That(StoreRecords.Describe(loaded.Jobs), Is.EqualTo(StoreRecords.Describe([StoreRecords.Running(1), StoreRecords.Pending(2)])));
        Assert.That(loaded.Nodes.Select(n => n.Id), Is.EqualTo(new[] { "node-b" }));
        Assert.That(follower.FullReads, Is.EqualTo(2));
    }

    [Test]
    public async Task A_store_that_stops_following_reads_snapshots_again()
    {
        await using var leader = await OpenAsync(Etcd.Endpoints);
        await using var follower = await OpenAsync(Etcd.Endpoints);
        follower.StartFollowing();
        await leader.SaveJobsAsync([StoreRecords.Pending(1)], Token);
        await CaughtUpAsync(follower, await RevisionAsync(Client));

        await follower.StopFollowingAsync();
        await leader.SaveJobsAsync([StoreRecords.Pending(2)], Token);
        var loaded = await follower.LoadAsync(Token);

        Assert.That(loaded.Jobs.Select(j => j.Id), Is.EqualTo(new[] { "j-000001", "j-000002" }));
        Assert.That(follower.MirrorRevision, Is.Zero);
        Assert.That(follower.FullReads, Is.EqualTo(2));
    }

    private async Task<EtcdStateStore> OpenAsync(string endpoints) =>
        await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = endpoints, Prefix = Prefix, CallTimeout = CallTimeout }, Token);

    /// <summary>The etcd's revision now: nothing else writes to the test's etcd, so it is the last write's.</summary>
    private static async Task<long> RevisionAsync(EtcdClient client) =>
        (await client.GetAsync(new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("/"), CountOnly = true }, cancellationToken: Token)).Header.Revision;

    private static Task CaughtUpAsync(EtcdStateStore follower, long revision) =>
        Eventually.TrueAsync(() => follower.MirrorRevision >= revision, $"the mirror to reach revision {revision}", Generous);
}
