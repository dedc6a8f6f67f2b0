using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>A gang across two workers when its leader is killed, with three masters on real etcd.</summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class GangFailoverTests
{
    private HaCluster? _cluster;
    private HaClusterApi? _api;

    [TearDown]
    public async Task StopCluster()
    {
        _api?.Dispose();
        _api = null;
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            _cluster = null;
        }
    }

    [Test]
    public async Task The_successor_of_a_killed_leader_keeps_a_running_gang_whole_and_starts_none_of_it_again()
    {
        _cluster = await HaCluster.StartAsync("gang-failover");
        _api = new HaClusterApi(_cluster);
        var (cluster, api) = (_cluster, _api);
        cluster.StartWorker("w1");
        cluster.StartWorker("w2");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1", "w2");
        var release = Path.Combine(cluster.Root, "release");
        var spec = ClusterApi.Shell($"touch {cluster.Root}/started-$SCHEDULER_ATTEMPT-$SCHEDULER_RANK; while [ ! -e {release} ]; do sleep 0.05; done", gpus: 2);
        spec.Replicas = 2;
        var job = await api[leader].SubmitAsync(spec);
        var before = await api[leader].WaitForStateAsync(job.Id, JobState.Running);
        Assert.That(before.Replicas.Select(r => r.NodeId).Order(), Is.EqualTo(new[] { "w1", "w2" }), "two 2-GPU replicas need both workers");

        await cluster.MasterById(leader.Id).Process!.KillAsync();
        var successor = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m.Id != leader.Id));
        await api.WaitForReadyNodesAsync(successor, "w1", "w2");

        var seen = await api[successor].Jobs.GetAsync(new GetJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That((seen.State, seen.Attempt), Is.EqualTo((JobState.Running, 1)), seen.Message);
        Assert.That(seen.Replicas.Select(r => (r.Rank, r.NodeId, r.Address)), Is.EqualTo(before.Replicas.Select(r => (r.Rank, r.NodeId, r.Address))), "the successor loaded every replica from etcd");

        await File.WriteAllTextAsync(release, "go");
        var done = await api[successor].WaitForStateAsync(job.Id, JobState.Succeeded);

        Assert.That((done.Attempt, done.Requeues), Is.EqualTo((1, 0)));
        Assert.That(Directory.GetFiles(cluster.Root, "started-2-*"), Is.Empty, "no replica was started a second time");
    }
}
