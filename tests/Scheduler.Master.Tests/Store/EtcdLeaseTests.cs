namespace Scheduler.Master.Tests.Store;

/// <summary>
/// The leader lease is renewed from a thread of its own: a master whose thread pool is backed up
/// (thousands of queued work items under 10,000 worker streams were measured) keeps its lease, where a
/// keep-alive that waits for pool threads lets it lapse, ending the term and dropping every node.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[NonParallelizable]
public sealed class EtcdLeaseTests() : EtcdFixture("lease")
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    [Test]
    public async Task The_lease_is_renewed_while_every_thread_pool_thread_is_blocked()
    {
        await using var election = NewElection(Ttl);
        await using var lease = await election.CampaignAsync(Token);

        // Four TTLs with no pool thread free: a renewal that needs one (a gRPC stream's reader, a pool
        // timer) cannot happen, so the lease would be valid now only if renewed by the lease's own thread.
        var (validWhileBlocked, lostWhileBlocked) = await Task.Factory.StartNew(
            () => WithThreadPoolBlocked(Ttl * 4, () => (lease.IsValid, lease.Lost.IsCancellationRequested)),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        Assert.That(lostWhileBlocked, Is.False, "the term would have ended");
        Assert.That(validWhileBlocked, Is.True, "renewed within its TTL while the pool was blocked");
        var key = await Client.GetAsync(election.LeaderKey, cancellationToken: Token);
        Assert.That(key.Kvs, Has.Count.EqualTo(1), "etcd still holds the leader key on the lease");
    }

    /// <summary>Runs <paramref name="probe"/> at the end of <paramref name="span"/> during which every pool thread waits on a gate.</summary>
    private static T WithThreadPoolBlocked<T>(TimeSpan span, Func<T> probe)
    {
        // Not disposed: blockers queued but not yet started still wait on it after it is set.
        var gate = new ManualResetEventSlim();
        ThreadPool.GetMinThreads(out var workers, out _);

        // More than the pool has or will inject in the span: each new thread takes the next blocker.
        for (var i = 0; i < workers + 500; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static g => g.Wait(), gate, preferLocal: false);
        }

        try
        {
            Thread.Sleep(span);
            return probe();
        }
        finally
        {
            gate.Set();
        }
    }
}

/// <summary>
/// An etcd run without its JSON gateway (<c>--enable-grpc-gateway=false</c>) answers the renewal thread's
/// calls with 404: the lease is then renewed over gRPC, as before that thread, instead of lapsing and
/// leaving the cluster without a leader.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
[NonParallelizable]
public sealed class EtcdLeaseWithoutGatewayTests() : EtcdFixture("lease-nogw", "--enable-grpc-gateway=false")
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    [Test]
    public async Task Without_the_json_gateway_the_lease_is_renewed_over_grpc()
    {
        await using var election = NewElection(Ttl);
        await using var lease = await election.CampaignAsync(Token);

        // What is asserted is that the lease outlives four TTLs, so the test waits them out.
        await Task.Delay(Ttl * 4, Token);

        Assert.That(lease.Lost.IsCancellationRequested, Is.False, "the term would have ended");
        Assert.That(lease.IsValid, Is.True, "renewed within its TTL");
        var key = await Client.GetAsync(election.LeaderKey, cancellationToken: Token);
        Assert.That(key.Kvs, Has.Count.EqualTo(1), "etcd still holds the leader key on the lease");
    }
}
