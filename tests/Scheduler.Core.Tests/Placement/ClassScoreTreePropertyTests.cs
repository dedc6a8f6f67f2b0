using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The per-shape score trees (the engine's fast path over a <see cref="PlacementIndex"/>) must place
/// every job exactly where the plain scan over the node list does: same node, same GPUs, same
/// refusals, for every policy whose scores may be cached, learning its task shapes or not.
/// </summary>
public sealed class ClassScoreTreePropertyTests
{
    private static readonly string[] Models = ["A100", "T4", "V100"];
    [TestCaseSource(typeof(EquivalenceCases), nameof(EquivalenceCases.CacheablePoliciesLearningOrNot))]
    public void Places_exactly_as_the_plain_scan_over_random_sequences_of_place_and_release(string policy, bool learning)
    {
        for (var seed = 1; seed <= 40; seed++)
        {
            var random = new Random(seed);
            var nodes = RandomNodes(random);
            var demands = RandomDemands(random, count: 250);
            var workload = learning ? null : TaskDistribution.FromDemands(demands);

            // Half the runs as the master builds it: wrapped for affinity, some jobs with keys (scanned per node).
            var wrap = seed % 2 == 0;
            var fast = new PlacementEngine(EquivalenceCases.Build(policy, seed, workload, wrap)) { ScoreTreeMinClasses = 0 };
            var plain = new PlacementEngine(EquivalenceCases.Build(policy, seed, workload, wrap));
            var index = new PlacementIndex(nodes);
            var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
            var placed = new List<Allocation>();
            for (var k = 0; k < demands.Count; k++)
            {
                EquivalenceCases.PlaceBoth(fast, plain, index, nodes, placed, demands[k], $"{policy} seed {seed} job {k}");

                Churn(random, nodes, byId, placed);
                if (random.Next(150) == 0)
                {
                    // A new index over the same nodes: every tree starts again.
                    index = new PlacementIndex(nodes);
                }
            }
        }
    }

    [TestCaseSource(typeof(EquivalenceCases), nameof(EquivalenceCases.CacheablePoliciesLearningOrNot))]
    public void A_shape_read_again_after_many_changes_places_as_the_plain_scan(string policy, bool learning)
    {
        var random = new Random(5);
        var nodes = Enumerable.Range(0, 40).Select(i => Node($"n{i:D2}", 64_000, Models[i % 2], 8)).ToArray();
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var rare = new ResourceRequest(3000, 8192, 2);
        var busy = new ResourceRequest(1000, 2048, 0, 300);
        var workload = learning ? null : TaskDistribution.FromDemands([JobDemand.Of("w1", rare), JobDemand.Of("w2", busy)]);
        var fast = new PlacementEngine(PlacementPolicies.Create(policy, 1, workload)) { ScoreTreeMinClasses = 0 };
        var plain = new PlacementEngine(PlacementPolicies.Create(policy, 1, workload));
        var index = new PlacementIndex(nodes);
        var placed = new List<Allocation>();
        var job = 0;
        for (var round = 0; round < 6; round++)
        {
            // Read twice in a row, so that the shape keeps a tree of its own across the changes below.
            for (var again = 0; again < 2; again++)
            {
                var rareJob = JobDemand.Of($"rare-{round}-{again}", rare);
                var got = fast.FindAllocation(rareJob, index);
                var expected = plain.FindAllocation(rareJob, nodes);
                Assert.That(got?.NodeId, Is.EqualTo(expected?.NodeId), $"round {round}");
                Assert.That(got?.Gpus.ToArray(), Is.EqualTo(expected?.Gpus.ToArray()), $"round {round}");
            }

            // Thousands of changes (more than the index keeps in its log) before the rare shape comes back.
            for (var k = 0; k < 1500 + (round * 700); k++)
            {
                var demand = JobDemand.Of($"busy-{job++}", busy);
                var allocation = fast.FindAllocation(demand, index);
                Assert.That(allocation?.NodeId, Is.EqualTo(plain.FindAllocation(demand, nodes)?.NodeId));
                if (allocation is not null)
                {
                    byId[allocation.NodeId].Allocate(allocation);
                    placed.Add(allocation);
                }

                if (placed.Count > 0 && random.Next(3) != 0)
                {
                    var i = random.Next(placed.Count);
                    byId[placed[i].NodeId].Release(placed[i].JobId);
                    placed.RemoveAt(i);
                }
            }
        }
    }

    private static void Churn(Random random, NodeState[] nodes, Dictionary<string, NodeState> byId, List<Allocation> placed)
    {
        for (var ends = random.Next(3); ends > 0 && placed.Count > 0; ends--)
        {
            var i = random.Next(placed.Count);
            byId[placed[i].NodeId].Release(placed[i].JobId);
            placed.RemoveAt(i);
        }

        if (random.Next(20) == 0)
        {
            var node = nodes[random.Next(nodes.Length)];
            node.Cordoned = !node.Cordoned;
        }

        if (random.Next(40) == 0)
        {
            var node = nodes[random.Next(nodes.Length)];
            node.Health = node.Health == NodeHealth.Ready ? NodeHealth.Suspect : NodeHealth.Ready;
        }
    }

    // A few node kinds (so classes hold several nodes), some with GPU topology, some with GPUs of two
    // models (a job or typical task of one model then sees only half a node), in random order.
    private static NodeState[] RandomNodes(Random random)
    {
        var kinds = Enumerable.Range(0, random.Next(2, 5))
            .Select(_ => (Cpu: random.Next(2, 7) * 16_000L, Memory: random.Next(1, 4) * 128L * 1024, Model: Models[random.Next(Models.Length)], Gpus: random.Next(2) == 0 ? 4 : 8, Topology: random.Next(3) == 0))
            .Select(kind => (kind.Cpu, kind.Memory, kind.Model, Second: random.Next(3) == 0 ? Models[random.Next(Models.Length)] : kind.Model, kind.Gpus, kind.Topology))
            .ToArray();
        return Enumerable.Range(0, random.Next(6, 60))
            .Select(i =>
            {
                var kind = kinds[random.Next(kinds.Length)];
                var devices = Enumerable.Range(0, kind.Gpus)
                    .Select(g => new GpuDevice(g, $"n{i}-{g}", g < kind.Gpus / 2 ? kind.Model : kind.Second, 0) { Topology = kind.Topology ? new GpuTopology(1 + (g / 4), 1 + (g / 2), 1 + (g / 4)) : default })
                    .ToArray();
                return new NodeState($"n{i:D2}", kind.Cpu, kind.Memory, devices);
            })
            .ToArray();
    }

    // Shapes drawn from a small pool, so that each comes back many times between changes.
    private static List<JobDemand> RandomDemands(Random random, int count)
    {
        var pool = Enumerable.Range(0, random.Next(4, 16)).Select(_ => RandomShape(random)).ToArray();
        return Enumerable.Range(0, count)
            .Select(k =>
            {
                var (request, models, topology) = pool[random.Next(pool.Length)];
                return new JobDemand($"j{k}", request, models, new Dictionary<string, string>()) { RequiredTopology = topology };
            })
            .ToList();
    }

    private static (ResourceRequest Request, IReadOnlyList<string> Models, TopologyLevel Topology) RandomShape(Random random)
    {
        var request = random.Next(5) switch
        {
            0 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 16) * 1024L, 0, random.Next(1, 10) * 100),
            1 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 32) * 1024L, random.Next(1, 5)),
            2 => new ResourceRequest(random.Next(1, 8) * 1000L, random.Next(1, 8) * 1024L),
            3 => new ResourceRequest(random.Next(1, 4) * 1000L, 4096, 8),
            _ => new ResourceRequest(4000, 4096, 0, 500),
        };
        IReadOnlyList<string> models = random.Next(5) == 0 ? [Models[random.Next(Models.Length)]] : [];
        var topology = request.Gpus >= 2 && random.Next(4) == 0 ? TopologyLevel.PcieSwitch : TopologyLevel.System;
        return (request, models, topology);
    }

    private static NodeState Node(string id, long cpu, string model, int gpus) =>
        new(id, cpu, 256 * 1024, Enumerable.Range(0, gpus).Select(g => new GpuDevice(g, $"{id}-{g}", model, 0)).ToArray());
}
