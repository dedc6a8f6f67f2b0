using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>
/// The loop's index of the jobs holding an allocation on each node answers exactly what a scan of every job
/// with <see cref="GangMembers.HoldsOn"/> answered, in submission order, however the jobs move, end or go.
/// </summary>
[TestFixture]
public sealed class JobsByNodeTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Nodes = ["n0", "n1", "n2", "n3", "n4"];

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void Answers_as_a_scan_of_every_job_through_random_moves_ends_and_removals(int seed)
    {
        var random = new Random(seed);
        var jobs = new Dictionary<string, JobRecord>(StringComparer.Ordinal);
        var index = new JobsByNode();
        for (var step = 0; step < 3000; step++)
        {
            var id = $"j-{random.Next(60):D6}";
            var before = jobs.GetValueOrDefault(id);
            if (before is not null && random.Next(10) == 0)
            {
                jobs.Remove(id);
                index.Update(before, null);
            }
            else
            {
                var after = RandomJob(random, id, before?.Sequence ?? step);
                jobs[id] = after;
                index.Update(before, after);
            }

            foreach (var node in Nodes)
            {
                var scanned = jobs.Values.Where(j => GangMembers.HoldsOn(j, node)).OrderBy(j => j.Sequence).Select(j => j.Id);
                Assert.That(index.On(node, jobs, _ => true).Select(j => j.Id), Is.EqualTo(scanned), $"step {step}, node {node}");
            }
        }
    }

    [Test]
    public void A_gang_is_found_on_each_node_where_a_replica_holds_and_only_there()
    {
        var jobs = new Dictionary<string, JobRecord>(StringComparer.Ordinal);
        var index = new JobsByNode();
        var gang = Job("g", 1, holds: true, node: "n0", replicas:
        [
            Replica(0, "n0", ReplicaPhase.Running),
            Replica(1, "n1", ReplicaPhase.Assigned),
            Replica(2, "n2", ReplicaPhase.Exited),
        ]);
        jobs[gang.Id] = gang;
        index.Update(null, gang);

        Assert.That(Nodes.Where(n => index.On(n, jobs, _ => true).Length > 0), Is.EqualTo(new[] { "n0", "n1" }));

        var ended = gang with { HoldsAllocation = false, State = JobState.Succeeded };
        jobs[gang.Id] = ended;
        index.Update(gang, ended);

        Assert.That(Nodes.Where(n => index.On(n, jobs, _ => true).Length > 0), Is.Empty);
    }

    private static JobRecord RandomJob(Random random, string id, long sequence)
    {
        var holds = random.Next(3) > 0;
        var node = random.Next(5) == 0 ? null : Nodes[random.Next(Nodes.Length)];
        if (random.Next(3) > 0)
        {
            return Job(id, sequence, holds, node, []);
        }

        var phases = new[] { ReplicaPhase.Assigned, ReplicaPhase.Running, ReplicaPhase.Exited, ReplicaPhase.Lost };
        var replicas = Enumerable.Range(0, 2 + random.Next(3))
            .Select(rank => Replica(rank, Nodes[random.Next(Nodes.Length)], phases[random.Next(phases.Length)]))
            .ToArray();
        return Job(id, sequence, holds, node, replicas);
    }

    private static ReplicaRecord Replica(int rank, string node, ReplicaPhase phase) =>
        new(rank, node, [new GpuShare(0, 1000)], [$"GPU-{node}-0"], $"{node}:29500") { Phase = phase };

    private static JobRecord Job(string id, long sequence, bool holds, string? node, ReplicaRecord[] replicas) => new()
    {
        Id = id,
        Sequence = sequence,
        RequestId = $"r-{id}",
        Spec = new JobSpec { Command = "/bin/true", Replicas = Math.Max(1, replicas.Length) },
        State = holds ? JobState.Running : JobState.Pending,
        NodeId = node,
        Replicas = replicas,
        HoldsAllocation = holds,
        CreatedAt = Now,
        UpdatedAt = Now,
    };
}
