using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// GPU sets chosen by topology, checked against brute force over every set of free GPUs on seeded random
/// topologies (islands, switches and NUMA nodes drawn independently, some GPUs in none) and random busy GPUs.
/// </summary>
public sealed class GpuTopologyPropertyTests
{
    private const int Seeds = 400;

    private static readonly TopologyLevel[] Requirements = [TopologyLevel.System, TopologyLevel.Numa, TopologyLevel.PcieSwitch, TopologyLevel.NvLink];

    [Test]
    public void Chooses_a_set_of_the_best_available_level_and_never_a_busy_gpu()
    {
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        for (var seed = 1; seed <= Seeds; seed++)
        {
            var random = new Random(seed);
            var node = RandomNode(random, "n", random.Next(2, 11));
            var free = FreeWholeGpus(node);
            var k = random.Next(1, node.Gpus.Count + 1);
            var demand = Demand("j", k);

            var best = BruteBest(node, free, k);
            var allocation = engine.FindAllocation(demand, [node]);

            if (best is null)
            {
                Assert.That(allocation, Is.Null, $"seed {seed}: {k} GPUs placed where only {free.Count} are free");
                continue;
            }

            Assert.That(allocation, Is.Not.Null, $"seed {seed}: {k} of {free.Count} free GPUs not placed");
            var chosen = allocation!.Gpus.Select(g => g.Index).ToArray();
            Assert.That(chosen, Has.Length.EqualTo(k).And.Unique, $"seed {seed}");
            Assert.That(free, Is.SupersetOf(chosen), $"seed {seed}: a busy GPU was chosen");
            Assert.That(chosen, Is.Ordered, $"seed {seed}: GPUs are handed out in index order");
            Assert.That(Level(node, chosen), Is.EqualTo(best), $"seed {seed}: {Describe(node)} free {string.Join(',', free)} k={k} chose {string.Join(',', chosen)}");
        }
    }

    [Test]
    public void A_required_level_is_honoured_or_the_node_is_refused_with_a_topology_reason()
    {
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        var refused = 0;
        for (var seed = 1; seed <= Seeds; seed++)
        {
            var random = new Random(seed);
            var node = RandomNode(random, "n", random.Next(2, 11));
            var free = FreeWholeGpus(node);
            var k = random.Next(2, Math.Max(3, free.Count + 1));
            var required = Requirements[random.Next(Requirements.Length)];
            var demand = Demand("j", k) with { RequiredTopology = required };

            var best = BruteBest(node, free, k);
            var why = PlacementEngine.Filter(node, demand);
            var allocation = engine.FindAllocation(demand, [node]);
            var scratch = new NodeScratch(node).ChooseGpus(demand);

            if (best is { } level && level >= required)
            {
                Assert.That(why, Is.Null, $"seed {seed}");
                Assert.That(Level(node, allocation!.Gpus.Select(g => g.Index).ToArray()), Is.EqualTo(level), $"seed {seed}");
                Assert.That(Level(node, scratch!.Select(g => g.Index).ToArray()), Is.EqualTo(level), $"seed {seed}: what-if planning chooses alike");
                continue;
            }

            Assert.That(allocation, Is.Null, $"seed {seed}: placed below the required {required}");
            Assert.That(scratch, Is.Null, $"seed {seed}");
            Assert.That(why, Is.Not.Null, $"seed {seed}");
            if (best is not null)
            {
                refused++;
                Assert.That(PlacementChecks.Of(why!), Is.EqualTo(PlacementChecks.Topology), $"seed {seed}: {why}");
                Assert.That(why, Does.StartWith($"topology {TopologyLevels.Name(required)}: no ").And.Contain($"has {k}"), $"seed {seed}");
                var never = BruteBest(node, Enumerable.Range(0, node.Gpus.Count).ToList(), k) < required;
                Assert.That(PlacementEngine.ExceedsCapacity(node, demand), Is.EqualTo(never), $"seed {seed}: {why}");
                Assert.That(why!.Contains(" free ", StringComparison.Ordinal), Is.EqualTo(!never), $"seed {seed}: {why}");
            }
        }

        Assert.That(refused, Is.GreaterThan(Seeds / 10), "the scenarios exercise refusals");
    }

    [Test]
    public void A_single_gpu_goes_where_it_breaks_the_smallest_island()
    {
        // Islands 0-3 and 4-7; GPUs 0 and 1 busy: a one-GPU job takes from the island already broken.
        var node = WithTopology("n", [1, 1, 1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]);
        node.Allocate(new Allocation("busy", "n", new ResourceRequest(1, 1, 2), [new GpuShare(0, 1000), new GpuShare(1, 1000)]));

        var allocation = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit)).FindAllocation(Demand("j", 1), [node]);

        Assert.That(allocation!.Gpus.Select(g => g.Index), Is.EqualTo(new[] { 2 }));
    }

    [Test]
    public void Without_a_requirement_the_node_chosen_is_the_one_chosen_without_topology()
    {
        foreach (var name in PlacementPolicies.Names.Where(n => n != PlacementPolicyNames.Random))
        {
            for (var seed = 1; seed <= 20; seed++)
            {
                var random = new Random(seed);
                var withTopology = Enumerable.Range(0, 6).Select(i => RandomNode(random, $"n{i}", random.Next(1, 9), busy: false)).ToArray();
                var plain = withTopology.Select(n => new NodeState(n.Id, n.CpuCapacity, n.MemoryCapacity, n.Gpus.Select(g => g with { Topology = default }).ToArray())).ToArray();
                var demands = Enumerable.Range(0, 40).Select(j => Demand($"j{j}", random.Next(0, 5), random.Next(1, 4) * 1000)).ToArray();
                var a = new PlacementEngine(PlacementPolicies.Create(name, seed, TaskDistribution.FromDemands(demands)));
                var b = new PlacementEngine(PlacementPolicies.Create(name, seed, TaskDistribution.FromDemands(demands)));
                if ((a.Policy as IRandomTieBreak)?.TieBreak is not null)
                {
                    // Ties drawn among classes of alike nodes: topology splits the classes, so the draws differ.
                    break;
                }

                foreach (var demand in demands)
                {
                    var onTopology = a.FindAllocation(demand, withTopology);
                    var onPlain = b.FindAllocation(demand, plain);
                    Assert.That(onTopology?.NodeId, Is.EqualTo(onPlain?.NodeId), $"{name} seed {seed} {demand.JobId}");
                    if (onTopology is not null)
                    {
                        withTopology.Single(n => n.Id == onTopology.NodeId).Allocate(onTopology);
                        plain.Single(n => n.Id == onPlain!.NodeId).Allocate(onPlain!);
                    }
                }
            }
        }
    }

    [Test]
    public void Placement_through_the_index_chooses_the_best_level_on_nodes_alike_but_for_topology()
    {
        // Same shape and free counts, different islands: the index must not treat them as one class.
        var flat = WithTopology("a-flat", [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 2, 2]);
        var linked = WithTopology("b-linked", [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 2, 2]);
        var index = new PlacementIndex([flat, linked]);
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));

        var allocation = engine.FindAllocation(Demand("j", 4) with { RequiredTopology = TopologyLevel.NvLink }, index);

        Assert.That(allocation?.NodeId, Is.EqualTo("b-linked"));
        Assert.That(flat.EquivalenceKey, Is.Not.EqualTo(linked.EquivalenceKey));
    }

    [TestCase(PlacementPolicyNames.BestFit)]
    [TestCase(PlacementPolicyNames.Fgd)]
    public void Scores_cached_for_a_shape_without_requirement_do_not_place_one_with_it(string policy)
    {
        // Best fit prefers the smaller flat node for four GPUs, and fgd, scoring both alike, gives the tie
        // to the earlier node: the plain job's cached choice is the flat node. The NVLink requirement must
        // still send the job to the islands.
        var flat = new NodeState("a-flat", 8_000, 1 << 20, Enumerable.Range(0, 4).Select(g => new GpuDevice(g, $"GPU-a-{g}", "A100", 40_960)).ToArray());
        var linked = WithTopology("b-linked", [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]);
        var index = new PlacementIndex([flat, linked]);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, 1, TaskDistribution.FromDemands([Demand("shape", 4)])));

        var plain = engine.FindAllocation(Demand("plain", 4), index);
        var required = engine.FindAllocation(Demand("linked", 4) with { RequiredTopology = TopologyLevel.NvLink }, index);

        Assert.That(plain?.NodeId, Is.EqualTo("a-flat"), "the flat node scores better, so its score is the one cached");
        Assert.That(required?.NodeId, Is.EqualTo("b-linked"));
        Assert.That(required!.Gpus.Select(g => g.Index), Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    private static JobDemand Demand(string id, int gpus, long cpu = 100) =>
        new(id, new ResourceRequest(cpu, 64, gpus), [], new Dictionary<string, string>());

    private static NodeState RandomNode(Random random, string id, int gpus, bool busy = true)
    {
        var devices = new GpuDevice[gpus];
        var islands = random.Next(1, gpus + 1);
        var switches = random.Next(1, gpus + 1);
        var numas = random.Next(1, 3);
        for (var g = 0; g < gpus; g++)
        {
            // A third of the GPUs in no island (PCIe cards), some with no switch or NUMA reading at all.
            var topology = new GpuTopology(
                random.Next(3) == 0 ? 0 : random.Next(1, islands + 1),
                random.Next(5) == 0 ? 0 : random.Next(1, switches + 1),
                random.Next(8) == 0 ? 0 : random.Next(1, numas + 1));
            devices[g] = new GpuDevice(g, $"GPU-{id}-{g}", "A100", 40_960) { Topology = topology };
        }

        var node = new NodeState(id, 64_000, 1 << 20, devices);
        if (!busy)
        {
            return node;
        }

        var taken = Enumerable.Range(0, gpus).Where(_ => random.Next(3) == 0).ToArray();
        for (var i = 0; i < taken.Length; i++)
        {
            // Some whole, some a share: a GPU with any share taken is not free for whole-GPU jobs.
            var milli = random.Next(2) == 0 ? 1000 : 300;
            node.Allocate(new Allocation($"busy{i}", id, new ResourceRequest(1, 1, milli == 1000 ? 1 : 0, milli == 1000 ? 0 : milli), [new GpuShare(taken[i], milli)]));
        }

        return node;
    }

    private static NodeState WithTopology(string id, int[] islands, int[] switches, int[] numas) =>
        new(id, 64_000, 1 << 20, islands.Select((island, g) => new GpuDevice(g, $"GPU-{id}-{g}", "A100", 40_960)
        {
            Topology = new GpuTopology(island, switches[g], numas[g]),
        }).ToArray());

    private static List<int> FreeWholeGpus(NodeState node) =>
        Enumerable.Range(0, node.Gpus.Count).Where(i => node.GpuFreeMilli[i] == ResourceLimits.MilliPerGpu).ToList();

    // The best level over every k-subset of free, or null when fewer than k are free.
    private static TopologyLevel? BruteBest(NodeState node, List<int> free, int k)
    {
        if (free.Count < k)
        {
            return null;
        }

        var best = TopologyLevel.System;
        foreach (var subset in Subsets(free, k))
        {
            var level = Level(node, subset);
            best = level > best ? level : best;
        }

        return best;
    }

    // The definition, written out independently of the selector: the best level whose group holds the whole set.
    private static TopologyLevel Level(NodeState node, int[] set)
    {
        if (set.Length <= 1)
        {
            return TopologyLevel.NvLink;
        }

        var t = set.Select(i => node.Gpus[i].Topology).ToArray();
        if (t[0].NvLinkIsland != 0 && t.All(x => x.NvLinkIsland == t[0].NvLinkIsland))
        {
            return TopologyLevel.NvLink;
        }

        if (t[0].PcieSwitch != 0 && t.All(x => x.PcieSwitch == t[0].PcieSwitch))
        {
            return TopologyLevel.PcieSwitch;
        }

        return t[0].NumaNode != 0 && t.All(x => x.NumaNode == t[0].NumaNode) ? TopologyLevel.Numa : TopologyLevel.System;
    }

    private static IEnumerable<int[]> Subsets(List<int> items, int k)
    {
        var pick = new int[k];
        return Recurse(0, 0);

        IEnumerable<int[]> Recurse(int start, int depth)
        {
            if (depth == k)
            {
                yield return [.. pick];
                yield break;
            }

            for (var i = start; i <= items.Count - (k - depth); i++)
            {
                pick[depth] = items[i];
                foreach (var s in Recurse(i + 1, depth + 1))
                {
                    yield return s;
                }
            }
        }
    }

    private static string Describe(NodeState node) =>
        string.Join(' ', node.Gpus.Select(g => $"{g.Index}:{g.Topology.NvLinkIsland}/{g.Topology.PcieSwitch}/{g.Topology.NumaNode}"));
}
