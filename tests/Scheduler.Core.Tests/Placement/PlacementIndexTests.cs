using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

public sealed class PlacementIndexTests
{
    private static readonly string[] Models = ["A100", "T4", "V100"];

    private static IEnumerable<string> Policies => PlacementPolicies.Names;

    private static IEnumerable<TestCaseData> PoliciesLearningOrNot =>
        PlacementPolicies.Names.SelectMany(p => new[] { new TestCaseData(p, false), new TestCaseData(p, true) });

    [TestCaseSource(nameof(PoliciesLearningOrNot))]
    public void Picks_an_allocation_scoring_as_the_full_scan_does_on_random_changing_clusters(string policy, bool learning)
    {
        for (var seed = 1; seed <= 30; seed++)
        {
            var random = new Random(seed);
            var (nodes, demands) = RandomScenario(seed);

            // Learning (the master's way) scores against what both engines observed alike; the
            // scanning engine's policy, having seen the job, then judges both choices.
            var workload = learning ? null : TaskDistribution.FromDemands(demands);
            var indexed = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload));
            var scanned = new PlacementEngine(PlacementPolicies.Create(policy, seed, workload));
            var judge = learning ? scanned.Policy : PlacementPolicies.Create(policy, seed, workload);
            var randomTies = judge is IRandomTieBreak { TieBreak: not null };
            var index = new PlacementIndex(nodes);
            var byId = nodes.ToDictionary(n => n.Id);
            var placed = new List<Allocation>();
            foreach (var demand in demands)
            {
                var fast = indexed.FindAllocation(demand, index);
                var reference = scanned.FindAllocation(demand, nodes);
                Assert.That(fast is null, Is.EqualTo(reference is null), $"seed {seed}: {demand}");
                if (fast is null || reference is null)
                {
                    continue;
                }

                if (randomTies)
                {
                    // Random draws may land on another of the tied choices, never on a worse one.
                    Assert.That(judge.Score(byId[fast.NodeId], demand, fast.Gpus), Is.EqualTo(judge.Score(byId[reference.NodeId], demand, reference.Gpus)), $"seed {seed}: {demand}");
                }
                else
                {
                    Assert.That((fast.NodeId, fast.Gpus.ToArray()), Is.EqualTo((reference.NodeId, reference.Gpus.ToArray())), $"seed {seed}: {demand}");
                }

                byId[fast.NodeId].Allocate(fast);
                placed.Add(fast);
                Churn(random, nodes, byId, placed);
            }
        }
    }

    [Test]
    public void Cached_scores_follow_class_changes_between_calls()
    {
        var nodes = new[] { Node("n0", 32_000, "A100"), Node("n1", 32_000, "A100"), Node("n2", 64_000, "A100") };
        var index = new PlacementIndex(nodes);
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        var half = new ResourceRequest(1000, 1024, 0, 500);

        Assert.That(engine.FindAllocation(JobDemand.Of("a", half), index)!.NodeId, Is.EqualTo("n0"));

        // n1 becomes the fullest node: the same shape must now go there, not to a cached choice.
        nodes[1].Allocate(new Allocation("x", "n1", new ResourceRequest(8000, 1024, 4), Enumerable.Range(0, 4).Select(g => new GpuShare(g, 1000)).ToArray()));
        var second = engine.FindAllocation(JobDemand.Of("b", half), index)!;
        Assert.That(second.NodeId, Is.EqualTo("n1"));
        Assert.That(second.Gpus, Is.EqualTo(new[] { new GpuShare(4, 500) }));
    }

    [Test]
    public void Scores_each_class_of_identical_nodes_once_and_follows_their_changes()
    {
        var nodes = Enumerable.Range(0, 6).Select(i => Node($"n{i}", 32_000, "A100")).ToArray();
        var index = new PlacementIndex(nodes);
        Assert.That(index.ClassCount, Is.EqualTo(1));

        nodes[2].Allocate(new Allocation("a", "n2", new ResourceRequest(1000, 1024, 1), [new GpuShare(0, 1000)]));
        Assert.That(index.ClassCount, Is.EqualTo(2));

        nodes[4].Cordoned = true;
        nodes[5].Health = NodeHealth.Suspect;
        Assert.That(index.ClassCount, Is.EqualTo(2));

        nodes[2].Release("a");
        Assert.That(index.ClassCount, Is.EqualTo(1));

        nodes[0].Cordoned = true;
        nodes[1].Cordoned = true;
        nodes[2].Cordoned = true;
        nodes[3].Cordoned = true;
        Assert.That(index.ClassCount, Is.Zero);
    }

    [Test]
    public void Ties_go_to_the_earliest_node_as_in_a_full_scan()
    {
        var nodes = Enumerable.Range(0, 5).Select(i => Node($"n{i}", 32_000, "A100")).ToArray();
        var index = new PlacementIndex(nodes);
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        var demand = JobDemand.Of("j", new ResourceRequest(1000, 1024, 8));

        // The first node leaves the class of idle nodes; the next one then stands for it.
        Assert.That(engine.FindAllocation(demand, index)!.NodeId, Is.EqualTo("n0"));
        nodes[0].Cordoned = true;
        Assert.That(engine.FindAllocation(demand, index)!.NodeId, Is.EqualTo("n1"));
        nodes[0].Cordoned = false;
        Assert.That(engine.FindAllocation(demand, index)!.NodeId, Is.EqualTo("n0"));
    }

    [Test]
    public void An_older_index_over_the_same_nodes_rebuilds_itself_when_used_again()
    {
        var nodes = Enumerable.Range(0, 3).Select(i => Node($"n{i}", 32_000, "A100")).ToArray();
        var older = new PlacementIndex(nodes);
        var newer = new PlacementIndex(nodes);
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit));
        var byId = nodes.ToDictionary(n => n.Id);

        // Changes are reported to the newer index only; the older one must not miss them.
        nodes[0].Allocate(new Allocation("a", "n0", new ResourceRequest(1000, 1024, 8), Enumerable.Range(0, 8).Select(g => new GpuShare(g, 1000)).ToArray()));
        Assert.That(older.Covers(byId), Is.False);
        Assert.That(engine.FindAllocation(JobDemand.Of("j", new ResourceRequest(1000, 1024, 8)), older)!.NodeId, Is.EqualTo("n1"));
        Assert.That(older.Covers(byId), Is.True);
        Assert.That(newer.Covers(byId), Is.False);
    }

    [Test]
    public void Affinity_keeps_classes_for_jobs_without_keys_and_scans_nodes_for_jobs_with_keys()
    {
        var nodes = Enumerable.Range(0, 4).Select(i => Node($"n{i}", 32_000, "A100")).ToArray();
        var cache = new Dictionary<string, IReadOnlySet<string>> { ["n3"] = new HashSet<string> { "llama" } };
        var policy = new AffinityPlacementPolicy(
            PlacementPolicies.Create(PlacementPolicyNames.BestFit),
            job => job == "keyed" ? ["llama"] : [],
            node => cache.GetValueOrDefault(node));
        var engine = new PlacementEngine(policy);
        var index = new PlacementIndex(nodes);

        Assert.That(engine.FindAllocation(JobDemand.Of("plain", new ResourceRequest(1000, 1024, 1)), index)!.NodeId, Is.EqualTo("n0"));
        Assert.That(engine.FindAllocation(JobDemand.Of("keyed", new ResourceRequest(1000, 1024, 1)), index)!.NodeId, Is.EqualTo("n3"));
    }

    [Test]
    public void A_node_listed_twice_is_rejected()
    {
        var node = Node("n0", 32_000, "A100");
        Assert.That(() => new PlacementIndex([node, node]), Throws.ArgumentException);
    }

    private static void Churn(Random random, NodeState[] nodes, Dictionary<string, NodeState> byId, List<Allocation> placed)
    {
        if (placed.Count > 0 && random.NextDouble() < 0.4)
        {
            var i = random.Next(placed.Count);
            byId[placed[i].NodeId].Release(placed[i].JobId);
            placed.RemoveAt(i);
        }

        if (random.NextDouble() < 0.1)
        {
            var node = nodes[random.Next(nodes.Length)];
            node.Cordoned = !node.Cordoned;
        }

        if (random.NextDouble() < 0.05)
        {
            var node = nodes[random.Next(nodes.Length)];
            node.Health = node.Health == NodeHealth.Ready ? NodeHealth.Suspect : NodeHealth.Ready;
        }
    }

    private static NodeState Node(string id, long cpu, string model, int gpus = 8) =>
        new(id, cpu, 256 * 1024, Enumerable.Range(0, gpus).Select(g => new GpuDevice(g, $"{id}-{g}", model, 0)).ToArray());

    // Few node kinds so that classes hold several nodes, and jobs small enough to churn.
    private static (NodeState[] Nodes, List<JobDemand> Demands) RandomScenario(int seed)
    {
        var random = new Random(seed);
        var nodes = Enumerable.Range(0, random.Next(4, 24))
            .Select(i => Node($"n{i:D2}", random.Next(2, 5) * 16_000L, Models[random.Next(2)], gpus: random.Next(2) == 0 ? 4 : 8))
            .ToArray();
        var demands = new List<JobDemand>();
        for (var j = 0; j < 80; j++)
        {
            var r = random.Next(4) switch
            {
                0 => new ResourceRequest(random.Next(1, 8) * 1000L, 4096, 0, random.Next(1, 10) * 100),
                1 => new ResourceRequest(random.Next(1, 8) * 1000L, 8192, random.Next(1, 4)),
                2 => new ResourceRequest(random.Next(1, 4) * 1000L, 2048),
                _ => new ResourceRequest(4000, 4096, 0, 500),
            };
            IReadOnlyList<string> models = random.Next(5) == 0 ? [Models[random.Next(Models.Length)]] : [];
            demands.Add(new JobDemand($"j{j}", r, models, new Dictionary<string, string>()));
        }

        return (nodes, demands);
    }
}
