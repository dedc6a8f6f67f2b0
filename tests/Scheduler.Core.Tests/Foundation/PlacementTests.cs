using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Foundation;

[TestFixture]
public sealed class PlacementTests
{
    private static readonly string[] PolicyNames = [.. PlacementPolicies.Names];

    [Test]
    public void Best_fit_packs_onto_the_fuller_node_and_spread_onto_the_emptier()
    {
        var busy = Nodes.Node("busy");
        busy.Allocate(new Allocation("x", "busy", new ResourceRequest(8000, 32_000, Gpus: 2), [new GpuShare(0, 1000), new GpuShare(1, 1000)]));
        var idle = Nodes.Node("idle");
        var demand = JobDemand.Of("j", new ResourceRequest(1000, 1024, Gpus: 1));

        var packed = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit)).Find(demand, [busy, idle]);
        var spread = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.Spread)).Find(demand, [busy, idle]);

        Assert.That(packed.Allocation!.NodeId, Is.EqualTo("busy"));
        Assert.That(spread.Allocation!.NodeId, Is.EqualTo("idle"));
    }

    [Test]
    public void Shared_gpu_job_goes_onto_a_partly_used_gpu_before_breaking_an_idle_one()
    {
        var node = Nodes.Node("n1", gpus: 2);
        node.Allocate(new Allocation("x", "n1", new ResourceRequest(100, 100, GpuMilli: 500), [new GpuShare(1, 500)]));

        var outcome = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.BestFit))
            .Find(JobDemand.Of("j", new ResourceRequest(100, 100, GpuMilli: 400)), [node]);

        Assert.That(outcome.Allocation!.Gpus, Is.EqualTo(new[] { new GpuShare(1, 400) }));
    }

    [TestCaseSource(nameof(PolicyNames))]
    public void Filters_apply_under_every_policy_and_the_reason_says_why(string policy)
    {
        var wrongModel = Nodes.Node("t4", model: "T4");
        var cordoned = Nodes.Node("cordoned");
        cordoned.Cordoned = true;
        var dead = Nodes.Node("dead");
        dead.Health = NodeHealth.Dead;
        var unlabelled = Nodes.Node("unlabelled");
        var small = Nodes.Node("small", gpus: 1, labels: new Dictionary<string, string> { ["zone"] = "a" });
        var demand = new JobDemand("j", new ResourceRequest(1000, 1024, Gpus: 2), ["A100"], new Dictionary<string, string> { ["zone"] = "a" });
        var engine = new PlacementEngine(PlacementPolicies.Create(policy));

        var outcome = engine.Find(demand, [wrongModel, cordoned, dead, unlabelled, small]);

        Assert.That(outcome.Allocation, Is.Null);
        Assert.That(outcome.Reason, Does.StartWith("no node fits (2 nodes: labels do not match; "));
        Assert.That(outcome.Reason, Does.Contain("not ready").And.Contain("cordoned").And.Contain("labels do not match").And.Contain("1 node: too few GPUs in total"));

        var fits = Nodes.Node("fits", labels: new Dictionary<string, string> { ["zone"] = "a" });
        Assert.That(engine.Find(demand, [wrongModel, fits]).Allocation!.NodeId, Is.EqualTo("fits"));
    }

    [Test]
    public void A_job_larger_than_every_node_says_it_fits_no_nodes_total_capacity()
    {
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));
        var dead = Nodes.Node("dead");
        dead.Health = NodeHealth.Dead;

        var outcome = engine.Find(JobDemand.Of("j", new ResourceRequest(1000, 1024, Gpus: 16)), [Nodes.Node("n1"), Nodes.Node("n2"), dead]);

        Assert.That(outcome.Reason, Is.EqualTo("fits no node's total capacity, so it waits for a larger node to join (2 nodes: too few GPUs in total; 1 node: not ready)"));
    }

    [Test]
    public void A_job_that_fits_an_empty_node_is_said_to_wait_for_free_capacity()
    {
        var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));
        var busy = Nodes.Node("busy", gpus: 4);
        busy.Allocate(engine.Find(JobDemand.Of("running", new ResourceRequest(1000, 1024, Gpus: 3)), [busy]).Allocation!);

        var outcome = engine.Find(JobDemand.Of("j", new ResourceRequest(1000, 1024, Gpus: 2)), [busy, Nodes.Node("huge-cpu", cpu: 500)]);

        Assert.That(outcome.Reason, Is.EqualTo("no node fits (1 node: too few free GPUs; 1 node: too little CPU in total)"));
    }

    [Test]
    public void No_nodes_gives_a_reason_too()
    {
        var outcome = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default)).Find(JobDemand.Of("j", new ResourceRequest(1, 1)), []);
        Assert.That(outcome.Reason, Is.EqualTo("no nodes registered"));
    }

    [Test]
    public void Unknown_policy_name_lists_the_known_ones() =>
        Assert.That(() => PlacementPolicies.Create("magic"), Throws.ArgumentException.With.Message.Contains(PlacementPolicyNames.BestFit));

    /// <summary>Property: random clusters, random jobs, placed until nothing fits: no capacity is ever exceeded, no job is placed twice, every constraint holds.</summary>
    [Test]
    public void Random_workloads_never_exceed_capacity_or_break_constraints([ValueSource(nameof(PolicyNames))] string policy, [Values(1, 2, 3, 4, 5)] int seed)
    {
        var random = new Random(seed);
        string[] models = ["A100", "H100", "T4"];
        var nodes = Enumerable.Range(0, 8)
            .Select(i => Nodes.Node($"n{i}", gpus: random.Next(0, 9), model: models[random.Next(models.Length)], cpu: random.Next(4, 65) * 1000, memory: random.Next(8, 257) * 1024))
            .ToDictionary(n => n.Id);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed));
        var placed = new Dictionary<string, (JobDemand Demand, Allocation Allocation)>();

        for (var j = 0; j < 400; j++)
        {
            var gpus = random.Next(4) == 0 ? 0 : random.Next(3) == 0 ? random.Next(1, 9) : 0;
            var milli = gpus == 0 && random.Next(2) == 0 ? random.Next(1, 1000) : 0;
            var wanted = random.Next(4) == 0 ? new[] { models[random.Next(models.Length)] } : [];
            var demand = new JobDemand($"j{j}", new ResourceRequest(random.Next(1, 8) * 500, random.Next(1, 16) * 1024, gpus, milli), wanted, new Dictionary<string, string>());
            var outcome = engine.Find(demand, nodes.Values);
            if (outcome.Allocation is { } allocation)
            {
                nodes[allocation.NodeId].Allocate(allocation);
                Assert.That(placed.TryAdd(demand.JobId, (demand, allocation)), Is.True, "placed twice");
            }
            else
            {
                Assert.That(outcome.Reason, Is.Not.Empty);
            }
        }

        Assert.That(placed, Is.Not.Empty);
        foreach (var node in nodes.Values)
        {
            Nodes.AssertConsistent(node);
        }

        foreach (var (demand, allocation) in placed.Values)
        {
            var node = nodes[allocation.NodeId];
            Assert.That(allocation.Gpus.All(g => node.GpuModelAllowed(g.Index, demand.GpuModels)), Is.True, $"{demand.JobId} got a GPU model it excluded");
        }
    }
}
