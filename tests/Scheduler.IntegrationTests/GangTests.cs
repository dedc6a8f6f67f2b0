using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Gang jobs on real processes: a master, two workers and their agents on loopback.</summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class GangTests : PerTestCluster
{
    [Test]
    public async Task A_three_replica_gang_across_two_workers_learns_its_ranks_and_peers_and_a_killed_replica_reruns_the_whole_gang()
    {
        var (cluster, api) = await StartAsync("gang");
        cluster.StartWorker("w1", gpus: 2);
        cluster.StartWorker("w2", gpus: 2);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var root = cluster.Root;

        // Each replica writes its environment, then the first attempt waits to be killed; the second exits 0.
        var spec = ClusterApi.Shell(
            $"f={root}/gang-$SCHEDULER_ATTEMPT-$SCHEDULER_RANK; echo $$ > $f.pid; env > $f.tmp; mv $f.tmp $f.env; " +
            "if [ \"$SCHEDULER_ATTEMPT\" = 1 ]; then exec sleep 120; fi; exit 0",
            gpus: 1);
        spec.Replicas = 3;
        var job = await api.SubmitAsync(spec);

        var first = await ReadEnvironmentsAsync(root, attempt: 1);
        var running = await api.WaitForStateAsync(job.Id, JobState.Running);

        Assert.That(first.Select(e => e["RANK"]), Is.EqualTo(new[] { "0", "1", "2" }));
        Assert.That(first.Select(e => e["SCHEDULER_RANK"]), Is.EqualTo(new[] { "0", "1", "2" }));
        Assert.That(first.Select(e => (e["WORLD_SIZE"], e["SCHEDULER_WORLD_SIZE"], e["SCHEDULER_GANG_JOB_ID"])).Distinct(), Is.EqualTo(new[] { ("3", "3", job.Id) }));
        var peers = first[0]["SCHEDULER_PEERS"].Split(',');
        Assert.That(first.Select(e => e["SCHEDULER_PEERS"]).Distinct().Count(), Is.EqualTo(1), "every replica sees the same peers");
        Assert.That(peers, Has.Length.EqualTo(3).And.Unique);
        Assert.That(first.Select(e => $"{e["MASTER_ADDR"]}:{e["MASTER_PORT"]}").Distinct(), Is.EqualTo(new[] { peers[0] }), "rank 0 is the rendezvous");
        for (var rank = 0; rank < 3; rank++)
        {
            Assert.That(peers[rank], Does.EndWith(":" + first[rank]["SCHEDULER_PORT"]), "a replica's own port is its entry in the peers");
        }

        Assert.That(running.Replicas.Select(r => r.Rank), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(running.Replicas.Select(r => r.Address), Is.EqualTo(peers), "jobs get shows the addresses the replicas were given");
        Assert.That(running.Replicas.Select(r => r.NodeId), Is.EqualTo(first.Select(e => e["SCHEDULER_NODE_ID"])), "each replica runs where the job says");
        Assert.That(running.Replicas.Select(r => r.NodeId).Distinct().Order(), Is.EqualTo(new[] { "w1", "w2" }), "three 1-GPU replicas need both 2-GPU workers");
        Assert.That(running.Replicas.Select(r => r.State).Distinct(), Is.EqualTo(new[] { JobReplicaState.Running }));
        Assert.That(running.Replicas.Select(r => r.GpuUuids.Count), Is.All.EqualTo(1));

        var pids = Enumerable.Range(0, 3).Select(rank => int.Parse(File.ReadAllText($"{root}/gang-1-{rank}.pid").Trim(), CultureInfo.InvariantCulture)).ToArray();
        Assert.That(Posix.Signal(pids[1], 9), Is.True, "kill rank 1's agent");

        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(90));

        Assert.That((done.Attempt, done.Requeues), Is.EqualTo((2, 1)), "the whole gang was requeued once and ran again");
        Assert.That(pids.Select(Posix.IsAlive), Is.All.False, "no replica of the broken attempt is left running");
        var second = await ReadEnvironmentsAsync(root, attempt: 2);
        Assert.That(second.Select(e => e["RANK"]), Is.EqualTo(new[] { "0", "1", "2" }));
        Assert.That(done.Replicas.Select(r => (r.State, r.ExitCode)).Distinct(), Is.EqualTo(new[] { (JobReplicaState.Exited, 0) }));
    }

    [Test]
    public async Task A_restarted_master_keeps_a_running_gang_whole_and_starts_none_of_it_again()
    {
        var (cluster, api) = await StartAsync("gang-restart", ClusterTimings.MasterRestart);
        cluster.StartWorker("w1", gpus: 1);
        cluster.StartWorker("w2", gpus: 1);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var root = cluster.Root;
        var release = Path.Combine(root, "release");
        var spec = ClusterApi.Shell($"touch {root}/started-$SCHEDULER_ATTEMPT-$SCHEDULER_RANK; while [ ! -e {release} ]; do sleep 0.05; done", gpus: 1);
        spec.Replicas = 2;
        var job = await api.SubmitAsync(spec);
        var before = await api.WaitForStateAsync(job.Id, JobState.Running);

        await cluster.Master!.KillAsync();
        await cluster.StartMasterAsync();
        await api.WaitForReadyNodesAsync("w1", "w2");

        var after = await api.Jobs.GetAsync(new GetJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That((after.State, after.Attempt), Is.EqualTo((JobState.Running, 1)));
        Assert.That(after.Replicas.Select(r => (r.Rank, r.NodeId, r.Address, r.State)), Is.EqualTo(before.Replicas.Select(r => (r.Rank, r.NodeId, r.Address, r.State))), "the new master knows every replica where it runs");

        await File.WriteAllTextAsync(release, "go");
        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded);

        Assert.That((done.Attempt, done.Requeues), Is.EqualTo((1, 0)), "the replicas kept running through the restart");
        Assert.That(Directory.GetFiles(root, "started-2-*"), Is.Empty, "no replica was started a second time");
    }

    [Test]
    public async Task An_nvlink_gang_on_workers_with_two_islands_gets_one_island_per_replica_on_the_worker_that_holds_it_whole()
    {
        var (cluster, api) = await StartAsync("gang-topology");
        const string Islands = "nvlink:0-3,4-7;numa:0-3,4-7";
        cluster.StartWorker("w1", gpus: 8, extraArgs: ["--sim-gpu-topology", Islands]);
        cluster.StartWorker("w2", gpus: 8, extraArgs: ["--sim-gpu-topology", Islands]);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var release = Path.Combine(cluster.Root, "release");
        var hold = $"while [ ! -e {release} ]; do sleep 0.05; done";

        // One GPU taken breaks an island on one worker: only the other holds both 4-GPU replicas.
        var single = await api.SubmitAsync(ClusterApi.Shell(hold, gpus: 1));
        var held = await api.WaitForStateAsync(single.Id, JobState.Running);
        var spec = ClusterApi.Shell(hold, gpus: 4);
        spec.Replicas = 2;
        spec.Topology = "nvlink";
        var gang = await api.SubmitAsync(spec);
        var running = await api.WaitForStateAsync(gang.Id, JobState.Running);

        var other = held.NodeId == "w1" ? "w2" : "w1";
        Assert.That(running.Replicas.Select(r => (r.Rank, r.NodeId, string.Join(",", r.GpuIndices))), Is.EqualTo(new[] { (0, other, "0,1,2,3"), (1, other, "4,5,6,7") }));
        Assert.That(running.Replicas.Select(r => r.GpuUuids.Count), Is.All.EqualTo(4));

        await File.WriteAllTextAsync(release, "go");
        await api.WaitForStateAsync(gang.Id, JobState.Succeeded);
        await api.WaitForStateAsync(single.Id, JobState.Succeeded);
    }

    /// <summary>The environments the three replicas of <paramref name="attempt"/> wrote, by rank.</summary>
    private static async Task<IReadOnlyList<Dictionary<string, string>>> ReadEnvironmentsAsync(string root, int attempt)
    {
        var environments = new List<Dictionary<string, string>>();
        for (var rank = 0; rank < 3; rank++)
        {
            var file = $"{root}/gang-{attempt}-{rank}.env";
            var text = await Eventually.ReturnsAsync(
                () => Task.FromResult(File.Exists(file) ? File.ReadAllText(file) : null),
                $"rank {rank} of attempt {attempt} to write its environment",
                TimeSpan.FromSeconds(60));
            environments.Add(text.Split('\n')
                .Select(line => line.Split('=', 2))
                .Where(kv => kv.Length == 2)
                .GroupBy(kv => kv[0], StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal));
        }

        return environments;
    }
}
