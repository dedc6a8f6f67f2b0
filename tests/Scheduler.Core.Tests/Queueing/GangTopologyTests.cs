using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

/// <summary>
/// Gangs and GPU topology: every replica meets the job's required topology, a gang is packed onto as few
/// nodes as hold it and, on a node, onto GPUs near each other; all or nothing still.
/// </summary>
public sealed class GangTopologyTests
{
    private static readonly int[] TwoIslands = [1, 1, 1, 1, 2, 2, 2, 2];

    [Test]
    public void Each_replica_of_an_nvlink_gang_gets_one_island_and_the_gang_takes_the_node_that_holds_it_whole()
    {
        // a's GPU 1 is busy: a can give one island of four, b two.
        var a = Islands("a", TwoIslands);
        Occupy(a, 1);
        var b = Islands("b", TwoIslands);
        var nodes = Nodes(a, b);

        var decisions = CycleWith(PlacementPolicyNames.BestFit).Run(Gang("train", replicas: 2, gpus: 4, TopologyLevel.NvLink), nodes, T0);

        Assert.That(decisions.Select(d => (d.Allocation?.NodeId, Indices(d))), Is.EqualTo(new[] { ("b", new[] { 0, 1, 2, 3 }), ("b", [4, 5, 6, 7]) }));
    }

    [Test]
    public void A_gang_goes_to_the_one_node_that_holds_it_rather_than_across_the_fuller_nodes_the_policy_prefers()
    {
        var nodes = Nodes(Node("n1", gpus: 4), Node("n2", gpus: 2), Node("n3", gpus: 8));

        var decisions = CycleWith(PlacementPolicyNames.BestFit).Run(Gang("train", replicas: 5, gpus: 1), nodes, T0);

        Assert.That(decisions.Select(d => d.Allocation?.NodeId), Is.All.EqualTo("n3"), "best fit alone would put two on n2 and three on n1");
    }

    [Test]
    public void A_gang_stays_on_one_node_under_a_spreading_policy_when_one_node_holds_it()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));

        var decisions = CycleWith(PlacementPolicyNames.Spread).Run(Gang("train", replicas: 2, gpus: 2), nodes, T0);

        Assert.That(decisions.Select(d => d.Allocation?.NodeId).Distinct().Count(), Is.EqualTo(1));
    }

    [Test]
    public void A_gang_that_no_node_holds_whole_uses_the_fewest_nodes()
    {
        var nodes = Nodes(Node("n1", gpus: 2), Node("n2", gpus: 2), Node("n3", gpus: 2), Node("n4", gpus: 6), Node("n5", gpus: 4));

        var decisions = CycleWith(PlacementPolicyNames.BestFit).Run(Gang("train", replicas: 10, gpus: 1), nodes, T0);

        Assert.That(decisions.Select(d => d.Allocation?.NodeId).Distinct().Order(StringComparer.Ordinal), Is.EqualTo(new[] { "n4", "n5" }));
    }

    [Test]
    public void Replicas_on_one_node_get_gpus_in_one_island_rather_than_the_best_fit_for_each_alone()
    {
        // GPUs 0 and 1 are busy: one replica alone would best-fit into 2-3, leaving the other in the second island.
        var node = Islands("n", TwoIslands);
        Occupy(node, 0, 1);

        var decisions = Cycle().Run(Gang("train", replicas: 2, gpus: 2), Nodes(node), T0);

        Assert.That(decisions.Select(Indices), Is.EqualTo(new[] { new[] { 4, 5 }, [6, 7] }));
    }

    [Test]
    public void A_gang_that_does_not_fit_whole_says_how_many_replicas_fit_and_where_and_holds_nothing()
    {
        var node = Islands("n1", TwoIslands);
        Occupy(node, 0);
        var nodes = Nodes(node);

        var decisions = Cycle().Run(Gang("train", replicas: 4, gpus: 2, TopologyLevel.NvLink), nodes, T0);

        Assert.That(decisions.Select(d => d.Placed), Is.All.False);
        Assert.That(decisions[0].Reason, Is.EqualTo("gang train: needs 4 replicas × 2 GPUs (topology nvlink); largest feasible set: 3 (n1: 3)"));
        Assert.That(node.Allocations.Keys, Is.EqualTo(new[] { "busy0" }));
    }

    [Test]
    public void Feasible_counts_what_fits_now_and_gives_every_probe_back()
    {
        var a = Islands("a", TwoIslands);
        Occupy(a, 0, 4);
        var b = Islands("b", [1, 1, 2, 2]);
        var nodes = new[] { a, b };
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));
        var replica = new JobDemand("g", new ResourceRequest(1000, 1024, 3), [], new Dictionary<string, string>()) { RequiredTopology = TopologyLevel.NvLink };

        var feasible = GangJobs.Feasible(engine, replica, 3, nodes);

        Assert.That((feasible.Fits, feasible.Fit), Is.EqualTo((false, 2)), "each island of a has three free GPUs left; b's islands are pairs");
        Assert.That(feasible.PerNode, Is.EqualTo(new[] { new GangNodeShare("a", 2) }));
        Assert.That(a.Allocations.Keys.Order(StringComparer.Ordinal), Is.EqualTo(new[] { "busy0", "busy1" }));
        Assert.That(b.Allocations, Is.Empty);
    }

    [Test]
    public void Gangs_are_placed_whole_or_not_at_all_each_replica_meets_its_topology_and_on_the_fewest_nodes()
    {
        var requirements = new[] { TopologyLevel.System, TopologyLevel.Numa, TopologyLevel.PcieSwitch, TopologyLevel.NvLink };
        int whole = 0, none = 0, spanning = 0;
        for (var seed = 1; seed <= 300; seed++)
        {
            var random = new Random(seed);
            var nodes = Nodes([.. Enumerable.Range(0, random.Next(1, 5)).Select(i => RandomNode(random, $"n{i}"))]);
            var gpus = random.Next(1, 4);
            var required = gpus == 1 ? TopologyLevel.System : requirements[random.Next(requirements.Length)];
            var replicas = random.Next(2, 7);
            var gang = Gang("g", replicas, gpus, required);

            // What each node could take on its own, replica after replica (the engine's choice each time), on a copy.
            var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));
            var capacity = nodes.Values.Select(n => Capacity(engine, n.CopyWithout("-"), gang[0].Demand, replicas)).OrderDescending().ToArray();
            var before = nodes.Values.Select(Snapshot).ToArray();

            var decisions = Cycle().Run(gang, nodes, T0);

            var placed = decisions.Count(d => d.Placed);
            Assert.That(placed, Is.EqualTo(0).Or.EqualTo(replicas), $"seed {seed}");
            if (placed == 0)
            {
                none++;
                Assert.That(capacity.Sum(), Is.LessThan(replicas), $"seed {seed}: the nodes could take the gang");
                Assert.That(nodes.Values.Select(Snapshot), Is.EqualTo(before), $"seed {seed}");
                continue;
            }

            whole++;
            foreach (var decision in decisions)
            {
                var node = nodes[decision.Allocation!.NodeId];
                Assert.That(Level(node, Indices(decision)), Is.GreaterThanOrEqualTo(required), $"seed {seed}: {decision.Job.JobId}");
            }

            var used = decisions.Select(d => d.Allocation!.NodeId).Distinct().Count();
            var fewest = 1;
            while (capacity.Take(fewest).Sum() < replicas)
            {
                fewest++;
            }

            spanning += used > 1 ? 1 : 0;
            Assert.That(used, Is.EqualTo(fewest), $"seed {seed}: capacities {string.Join(',', capacity)}");
        }

        Assert.That(whole, Is.GreaterThan(50));
        Assert.That(none, Is.GreaterThan(50));
        Assert.That(spanning, Is.GreaterThan(10));
    }

    private static int Capacity(PlacementEngine engine, NodeState node, JobDemand demand, int limit)
    {
        var n = 0;
        while (n < limit && engine.FindAllocation(demand with { JobId = $"probe{n}" }, [node]) is { } allocation)
        {
            node.Allocate(allocation);
            n++;
        }

        return n;
    }

    private static QueuedJob[] Gang(string id, int replicas, int gpus, TopologyLevel topology = TopologyLevel.System)
    {
        var job = Job(id, 1, gpus: gpus);
        return [.. GangJobs.Expand(job with { Demand = job.Demand with { RequiredTopology = topology } }, replicas)];
    }

    private static SchedulingCycle CycleWith(string placementPolicy) =>
        new(QueuePolicies.Create(QueuePolicyNames.Fifo), new PlacementEngine(PlacementPolicies.Create(placementPolicy)), new SchedulingCycleOptions());

    private static NodeState Islands(string id, int[] islands) =>
        new(id, 64_000, 1 << 20, islands.Select((island, g) => new GpuDevice(g, $"GPU-{id}-{g}", "A100", 40_960)
        {
            Topology = new GpuTopology(island, 0, island),
        }).ToArray());

    private static void Occupy(NodeState node, params int[] gpus)
    {
        foreach (var gpu in gpus)
        {
            node.Allocate(new Allocation($"busy{node.Allocations.Count}", node.Id, new ResourceRequest(100, 64, 1), [new GpuShare(gpu, ResourceLimits.MilliPerGpu)]));
        }
    }

    private static NodeState RandomNode(Random random, string id)
    {
        var gpus = random.Next(2, 9);
        var islands = random.Next(1, gpus + 1);
        var numas = random.Next(1, 3);
        var devices = Enumerable.Range(0, gpus).Select(g => new GpuDevice(g, $"GPU-{id}-{g}", "A100", 40_960)
        {
            Topology = new GpuTopology(random.Next(4) == 0 ? 0 : random.Next(1, islands + 1), 0, random.Next(1, numas + 1)),
        }).ToArray();
        var node = new NodeState(id, random.Next(4, 33) * 1000L, 1 << 20, devices);
        Occupy(node, [.. Enumerable.Range(0, gpus).Where(_ => random.Next(4) == 0)]);
        return node;
    }

    private static int[] Indices(SchedulingDecision decision) => [.. decision.Allocation?.Gpus.Select(g => g.Index) ?? []];

    private static TopologyLevel Level(NodeState node, int[] set)
    {
        if (set.Length <= 1)
        {
            return TopologyLevel.NvLink;
        }

        var t = set.Select(i => node.Gpus[i].Topology).ToArray();
        return t[0].NvLinkIsland != 0 && t.All(x => x.NvLinkIsland == t[0].NvLinkIsland) ? TopologyLevel.NvLink
            : t[0].PcieSwitch != 0 && t.All(x => x.PcieSwitch == t[0].PcieSwitch) ? TopologyLevel.PcieSwitch
            : t[0].NumaNode != 0 && t.All(x => x.NumaNode == t[0].NumaNode) ? TopologyLevel.Numa
            : TopologyLevel.System;
    }

    private static string Snapshot(NodeState node) =>
        $"{node.Id}:{node.CpuFree}:{node.MemoryFree}:{string.Join(',', node.GpuFreeMilli.ToArray())}:{node.Allocations.Count}";
}
