using Scheduler.Core.Cluster;
using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

public sealed class GangTests
{
    [Test]
    public void A_gang_that_fits_is_placed_whole_in_one_cycle()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));
        var gang = GangJobs.Expand(Job("train", 1, gpus: 4), 4);

        var decisions = Cycle().Run(gang, nodes, T0);

        Assert.That(decisions.Select(d => d.Placed), Is.All.True);
        Assert.That(decisions.Select(d => d.Job.JobId), Is.EqualTo(new[] { "train/0", "train/1", "train/2", "train/3" }));
        Assert.That(nodes.Values.Sum(n => n.IdleGpuCount), Is.Zero);
    }

    [Test]
    public void A_gang_that_does_not_fit_places_nothing_and_says_how_many_replicas_would()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));
        var gang = GangJobs.Expand(Job("train", 1, gpus: 6), 3);

        var decisions = Cycle().Run(gang, nodes, T0);

        Assert.That(decisions.Select(d => d.Placed), Is.All.False);
        Assert.That(decisions[0].Reason, Is.EqualTo("gang train: needs 3 replicas × 6 GPUs; largest feasible set: 2 (n1: 1, n2: 1)"));
        Assert.That(nodes.Values.Sum(n => n.IdleGpuCount), Is.EqualTo(16));
        Assert.That(nodes.Values.SelectMany(n => n.Allocations.Keys), Is.Empty);
    }

    [Test]
    public void A_job_of_the_same_shape_still_gets_the_capacity_a_failed_gang_gave_back()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 4));
        var waiting = GangJobs.Expand(Job("train", 1, gpus: 4), 4).Append(Job("solo", 9, gpus: 4)).ToArray();

        var decisions = Cycle().Run(waiting, nodes, T0).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["train/3"].Placed, Is.False);
        Assert.That(decisions["solo"].Placed, Is.True);
    }

    [Test]
    public void A_gang_with_replicas_missing_from_the_queue_waits()
    {
        var nodes = Nodes(Node("n1", gpus: 8));
        var gang = GangJobs.Expand(Job("train", 1, gpus: 1), 3).Take(2).ToArray();

        var decisions = Cycle().Run(gang, nodes, T0);

        Assert.That(decisions.Select(d => d.Placed), Is.All.False);
        Assert.That(decisions[0].Reason, Does.Contain("2 of 3 replicas waiting"));
    }

    [Test]
    public void Replicas_are_released_together()
    {
        var nodes = Nodes(Node("n1", gpus: 4), Node("n2", gpus: 4));
        Cycle().Run(GangJobs.Expand(Job("train", 1, gpus: 3), 2), nodes, T0);

        var released = GangJobs.Release(nodes.Values, "train", 2);

        Assert.That(released, Is.EqualTo(2));
        Assert.That(nodes.Values.Sum(n => n.IdleGpuCount), Is.EqualTo(8));
    }

    [Test]
    public void After_a_cycle_every_gang_is_placed_whole_or_not_at_all_and_a_failed_gang_leaves_capacity_unchanged()
    {
        var random = new Random(99);
        int whole = 0, none = 0;
        for (var scenario = 0; scenario < 300; scenario++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(1, 5)).Select(i => Node($"n{i}", cpuCores: random.Next(4, 33), gpus: random.Next(0, 9))).ToArray());
            var waiting = new List<QueuedJob>();
            var seq = 0;
            for (var g = 0; g < random.Next(1, 5); g++)
            {
                var template = Job($"g{g}", seq, cpuCores: random.Next(1, 9), gpus: random.Next(0, 5), gpuMilli: 0);
                waiting.AddRange(GangJobs.Expand(template, random.Next(1, 6)).Select(m => m with { Sequence = seq++ }));
            }

            for (var s = 0; s < random.Next(0, 6); s++)
            {
                waiting.Add(Job($"solo{s}", seq++, cpuCores: random.Next(1, 5), gpuMilli: random.Next(0, 2) * random.Next(1, 1000)));
            }

            var policy = QueuePolicies.Names[random.Next(QueuePolicies.Names.Count)];
            var decisions = Cycle(policy).Run(waiting, nodes, T0);

            foreach (var gang in decisions.Where(d => d.Job.GangId is not null).GroupBy(d => d.Job.GangId))
            {
                var placed = gang.Count(d => d.Placed);
                Assert.That(placed, Is.EqualTo(0).Or.EqualTo(gang.First().Job.GangSize), $"scenario {scenario}, gang {gang.Key}");
                if (placed == 0)
                {
                    none++;
                    Assert.That(nodes.Values.SelectMany(n => n.Allocations.Keys).Where(id => id.StartsWith(gang.Key + "/", StringComparison.Ordinal)), Is.Empty);
                }
                else
                {
                    whole++;
                }
            }

            // Capacity must equal what the placed decisions account for: a rolled-back gang left nothing behind.
            foreach (var node in nodes.Values)
            {
                var expected = decisions.Where(d => d.Allocation?.NodeId == node.Id).Select(d => d.Job.JobId).Order(StringComparer.Ordinal);
                Assert.That(node.Allocations.Keys.Order(StringComparer.Ordinal), Is.EqualTo(expected));
                Assert.That(node.CpuFree, Is.EqualTo(node.CpuCapacity - node.Allocations.Values.Sum(a => a.Resources.CpuMillis)));
                Assert.That(node.GpuFreeMilliTotal, Is.EqualTo(node.GpuCapacityMilli - node.Allocations.Values.Sum(a => a.Resources.TotalGpuMilli)));
            }
        }

        Assert.That(whole, Is.GreaterThan(50));
        Assert.That(none, Is.GreaterThan(50));
    }

    [Test]
    public void A_failed_gang_alone_leaves_every_node_exactly_as_it_was()
    {
        var random = new Random(5);
        for (var scenario = 0; scenario < 200; scenario++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(1, 4)).Select(i => Node($"n{i}", cpuCores: 16, gpus: random.Next(0, 9))).ToArray());
            var before = nodes.Values.Select(Snapshot).ToArray();
            var gang = GangJobs.Expand(Job("g", 1, cpuCores: random.Next(1, 9), gpus: random.Next(1, 5)), random.Next(2, 7));

            var decisions = Cycle().Run(gang, nodes, T0);

            if (!decisions[0].Placed)
            {
                Assert.That(nodes.Values.Select(Snapshot), Is.EqualTo(before), $"scenario {scenario}");
            }
        }
    }

    private static string Snapshot(NodeState node) =>
        $"{node.Id}:{node.CpuFree}:{node.MemoryFree}:{string.Join(',', node.GpuFreeMilli.ToArray())}:{node.Allocations.Count}";
}
