using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The engine's class scan and score trees (with score bounds, cached model masks and the capacity
/// row standing in for the filter) must place as the plain scan over the node list does, also on
/// nodes the other property tests leave out: more than ten GPUs (the fragmentation memo's limit),
/// more than 64 (the masks' width), GPUs of several models, labels and node selectors, tight memory.
/// </summary>
public sealed class BoundedPlacementEquivalenceTests
{
    private static readonly string[] Models = ["A100", "T4", "V100"];
    private static readonly int[] GpuCounts = [0, 4, 8, 12, 16, 72];
    [TestCaseSource(typeof(EquivalenceCases), nameof(EquivalenceCases.CacheablePoliciesLearningOrNot))]
    public void Places_as_the_plain_scan_on_wide_mixed_and_labelled_nodes(string policy, bool learning)
    {
        for (var seed = 1; seed <= 12; seed++)
        {
            var random = new Random(seed);
            var nodes = RandomNodes(random);
            var demands = RandomDemands(random, count: 200);
            var workload = learning ? null : TaskDistribution.FromDemands(demands);
            var fast = new PlacementEngine(EquivalenceCases.Build(policy, seed, workload, wrap: seed % 2 == 0)) { ScoreTreeMinClasses = seed % 3 == 0 ? int.MaxValue : 0 };
            var plain = new PlacementEngine(EquivalenceCases.Build(policy, seed, workload, wrap: seed % 2 == 0));
            var index = new PlacementIndex(nodes);
            var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
            var placed = new List<Allocation>();
            for (var k = 0; k < demands.Count; k++)
            {
                EquivalenceCases.PlaceBoth(fast, plain, index, nodes, placed, demands[k], $"{policy} seed {seed} job {k}");

                for (var ends = random.Next(3); ends > 0 && placed.Count > 0; ends--)
                {
                    var i = random.Next(placed.Count);
                    byId[placed[i].NodeId].Release(placed[i].JobId);
                    placed.RemoveAt(i);
                }

                if (random.Next(25) == 0)
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
        }
    }

    [TestCaseSource(typeof(EquivalenceCases), nameof(EquivalenceCases.BoundingPoliciesLearningOrNot))]
    public void The_bound_holds_on_wide_and_mixed_nodes(string policy, bool learning)
    {
        var checkedScores = 0;
        for (var seed = 1; seed <= 12; seed++)
        {
            var random = new Random(seed);
            var demands = RandomDemands(random, count: 60);
            var placement = PlacementPolicies.Create(policy, seed, learning ? null : TaskDistribution.FromDemands(demands));
            var nodes = RandomNodes(random);
            foreach (var node in nodes)
            {
                for (var k = random.Next(1, 12); k > 0; k--)
                {
                    var free = node.GpuFreeMilli;
                    if (free.Length == 0)
                    {
                        break;
                    }

                    var g = random.Next(free.Length);
                    var milli = random.Next(2) == 0 ? free[g] : Math.Min(free[g], random.Next(1, 10) * 100);
                    if (milli > 0)
                    {
                        node.Allocate(new Allocation($"{node.Id}-a{k}", node.Id, new ResourceRequest(Math.Min(node.CpuFree, 2000), Math.Min(node.MemoryFree, 8192), 0, milli), [new GpuShare(g, milli)]));
                    }
                }
            }

            checkedScores += EquivalenceCases.AssertBoundsHold(placement, demands, nodes, $"{policy} seed {seed}");
        }

        Assert.That(checkedScores, Is.GreaterThan(500));
    }

    private static NodeState[] RandomNodes(Random random)
    {
        var kinds = Enumerable.Range(0, random.Next(3, 7))
            .Select(_ => (Cpu: random.Next(1, 7) * 16_000L, Memory: random.Next(1, 5) * 64L * 1024, Model: Models[random.Next(Models.Length)],
                Second: random.Next(2) == 0 ? Models[random.Next(Models.Length)] : null, Gpus: GpuCounts[random.Next(GpuCounts.Length)], Zone: random.Next(2) == 0 ? "a" : "b"))
            .ToArray();
        return Enumerable.Range(0, random.Next(8, 40))
            .Select(i =>
            {
                var kind = kinds[random.Next(kinds.Length)];
                var devices = Enumerable.Range(0, kind.Gpus)
                    .Select(g => new GpuDevice(g, $"n{i}-{g}", kind.Second is not null && g % 3 == 2 ? kind.Second : kind.Model, 0))
                    .ToArray();
                return new NodeState($"n{i:D2}", kind.Cpu, kind.Memory, devices, new Dictionary<string, string> { ["zone"] = kind.Zone });
            })
            .ToArray();
    }

    private static List<JobDemand> RandomDemands(Random random, int count)
    {
        var pool = Enumerable.Range(0, random.Next(4, 14)).Select(_ => RandomShape(random)).ToArray();
        return Enumerable.Range(0, count)
            .Select(k =>
            {
                var (request, models, selector) = pool[random.Next(pool.Length)];
                return new JobDemand($"j{k}", request, models, selector);
            })
            .ToList();
    }

    private static (ResourceRequest Request, IReadOnlyList<string> Models, IReadOnlyDictionary<string, string> Selector) RandomShape(Random random)
    {
        var request = random.Next(5) switch
        {
            0 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 48) * 1024L, 0, random.Next(1, 10) * 100),
            1 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 64) * 1024L, random.Next(1, 5)),
            2 => new ResourceRequest(random.Next(1, 8) * 1000L, random.Next(1, 64) * 1024L),
            3 => new ResourceRequest(random.Next(1, 4) * 1000L, 4096, random.Next(8, 20)),
            _ => new ResourceRequest(4000, 4096, 0, 500),
        };
        IReadOnlyList<string> models = random.Next(4) == 0 ? [Models[random.Next(Models.Length)]] : [];
        IReadOnlyDictionary<string, string> selector = random.Next(5) == 0
            ? new Dictionary<string, string> { ["zone"] = random.Next(2) == 0 ? "a" : "b" }
            : new Dictionary<string, string>();
        return (request, models, selector);
    }
}
