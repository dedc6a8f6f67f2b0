using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Rebalancing;
using Scheduler.Core.Resources;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Rebalancing;

public sealed class FragmentationRebalanceTests
{
    // Half the tasks share 500 milli of one GPU, half take one whole GPU.
    private static readonly TaskDistribution HalvesAndWholes = TaskDistribution.FromDemands(
        [Shape(gpuMilli: 500), Shape(gpus: 1)], coverage: 1.0);

    [Test]
    public void Consolidates_two_half_used_gpus_so_a_whole_gpu_is_free()
    {
        var nodes = Nodes(Node("a", gpus: 1), Node("b", gpus: 1));
        Start(nodes["a"], Job("x", 1, gpuMilli: 500), T0);
        Start(nodes["b"], Job("y", 2, gpuMilli: 500), T0);
        Assert.That(Fragmentation.OfCluster(nodes.Values, HalvesAndWholes), Is.EqualTo(500).Within(1e-9), "each free half strands itself for a whole-GPU task");

        var plan = new RebalancePlanner(maxMigrations: 4).PlanFragmentation(nodes.Values, HalvesAndWholes);

        Assert.That(plan.Select(m => (m.JobId, m.FromNode, m.ToNode)), Is.EqualTo(new[] { ("x", "a", "b") }));
        Assert.That(FragmentationAfter(nodes, plan, HalvesAndWholes), Is.Zero.Within(1e-9));
    }

    [Test]
    public void Proposes_nothing_when_no_move_lowers_fragmentation()
    {
        var nodes = Nodes(Node("a", gpus: 2), Node("b", gpus: 2));
        Start(nodes["a"], Job("x", 1, gpus: 1), T0);
        Start(nodes["b"], Job("y", 2, gpus: 1), T0);

        Assert.That(new RebalancePlanner().PlanFragmentation(nodes.Values, HalvesAndWholes), Is.Empty);
    }

    [Test]
    public void Proposes_nothing_without_a_workload_to_measure_against()
    {
        var nodes = Nodes(Node("a", gpus: 1), Node("b", gpus: 1));
        Start(nodes["a"], Job("x", 1, gpuMilli: 500), T0);
        Start(nodes["b"], Job("y", 2, gpuMilli: 500), T0);

        Assert.That(new RebalancePlanner().PlanFragmentation(nodes.Values, new TaskDistribution()), Is.Empty);
    }

    [Test]
    public void A_gain_below_the_threshold_is_not_worth_a_move()
    {
        var nodes = Nodes(Node("a", gpus: 1), Node("b", gpus: 1));
        Start(nodes["a"], Job("x", 1, gpuMilli: 500), T0);
        Start(nodes["b"], Job("y", 2, gpuMilli: 500), T0);

        Assert.That(new RebalancePlanner(4, minFragmentationGain: 501).PlanFragmentation(nodes.Values, HalvesAndWholes), Is.Empty);
        Assert.That(new RebalancePlanner(4, minFragmentationGain: 499).PlanFragmentation(nodes.Values, HalvesAndWholes), Has.Count.EqualTo(1));
    }

    [Test]
    public void Respects_the_bound_what_may_move_and_where_it_may_go()
    {
        var nodes = Nodes(Node("a", gpus: 1), Node("b", gpus: 1), Node("c", gpus: 1), Node("d", gpus: 1));
        foreach (var (node, seq) in new[] { ("a", 1), ("b", 2), ("c", 3), ("d", 4) })
        {
            Start(nodes[node], Job($"j-{node}", seq, gpuMilli: 500), T0);
        }

        var planner = new RebalancePlanner(maxMigrations: 1);
        Assert.That(planner.PlanFragmentation(nodes.Values, HalvesAndWholes), Has.Count.EqualTo(1));

        var plan = new RebalancePlanner(maxMigrations: 4).PlanFragmentation(
            nodes.Values,
            HalvesAndWholes,
            movable: a => a.JobId != "j-a",
            canReceive: n => n.Id != "b");

        Assert.That(plan, Has.Count.EqualTo(2), "two pairs of halves, each consolidated once");
        Assert.That(plan.Select(m => m.JobId), Has.None.EqualTo("j-a"));
        Assert.That(plan.Select(m => m.ToNode), Has.None.EqualTo("b"));
        Assert.That(FragmentationAfter(nodes, plan, HalvesAndWholes), Is.Zero.Within(1e-9));
    }

    [Test]
    public void Keeps_a_job_on_the_gpu_model_it_holds()
    {
        var nodes = Nodes(Node("a", gpus: 1, model: "H100"), Node("b", gpus: 1, model: "A100"));
        Start(nodes["a"], Job("x", 1, gpuMilli: 500), T0);
        Start(nodes["b"], Job("y", 2, gpuMilli: 500), T0);

        Assert.That(new RebalancePlanner().PlanFragmentation(nodes.Values, HalvesAndWholes), Is.Empty);
    }

    [Test]
    public void Never_overcommits_lowers_fragmentation_by_each_move_and_is_deterministic_on_random_clusters()
    {
        var random = new Random(17);
        var improved = 0;
        for (var scenario = 0; scenario < 200; scenario++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(2, 7)).Select(i => Node($"n{i}", cpuCores: 16, gpus: random.Next(0, 9), model: i % 3 == 0 ? "H100" : "A100")).ToArray());
            var demands = new List<JobDemand>();
            var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicyNames.Random, seed: scenario));
            for (var j = 0; j < 30; j++)
            {
                var job = random.Next(3) == 0
                    ? Job($"j{j}", j, cpuCores: random.Next(1, 4), gpuMilli: random.Next(1, 10) * 100, memoryMib: random.Next(1, 32) * 1024)
                    : Job($"j{j}", j, cpuCores: random.Next(1, 4), gpus: random.Next(0, 3), memoryMib: random.Next(1, 32) * 1024);
                demands.Add(job.Demand);
                if (engine.Find(job.Demand, nodes.Values).Allocation is { } allocation)
                {
                    nodes[allocation.NodeId].Allocate(allocation);
                }
            }

            var workload = TaskDistribution.FromDemands(demands, coverage: 1.0);
            var memoryAware = scenario % 2 == 0;
            var before = Fragmentation.OfCluster(nodes.Values, workload, memoryAware);
            var planner = new RebalancePlanner(maxMigrations: 3, minFragmentationGain: 50);
            var plan = planner.PlanFragmentation(nodes.Values, workload, memoryAware: memoryAware);

            Assert.That(plan, Has.Count.LessThanOrEqualTo(3));
            Assert.That(planner.PlanFragmentation(nodes.Values, workload, memoryAware: memoryAware).Select(PlanApplied.Describe), Is.EqualTo(plan.Select(PlanApplied.Describe)), "deterministic");
            Assert.That(plan.Select(m => m.JobId), Is.Unique);
            var after = FragmentationAfter(nodes, plan, workload, memoryAware);
            Assert.That(before - after, Is.GreaterThanOrEqualTo((plan.Count * 50) - 1e-6), $"scenario {scenario}: every move gains at least the threshold");
            improved += plan.Count > 0 ? 1 : 0;

            foreach (var m in plan)
            {
                var heldModels = nodes[m.FromNode].Allocations[m.JobId].Gpus.Select(g => nodes[m.FromNode].Gpus[g.Index].Model).Distinct();
                Assert.That(m.Target.Gpus.Select(g => nodes[m.ToNode].Gpus[g.Index].Model).Distinct(), Is.SubsetOf(heldModels), "same GPU model");
            }
        }

        Assert.That(improved, Is.GreaterThan(40), "random placement leaves fragmentation to remove");
    }

    private static JobDemand Shape(int gpus = 0, int gpuMilli = 0) =>
        JobDemand.Of($"shape-{gpus}-{gpuMilli}", new ResourceRequest(1000, 1024, gpus, gpuMilli));

    private static double FragmentationAfter(Dictionary<string, NodeState> nodes, IReadOnlyList<Migration> plan, TaskDistribution workload, bool memoryAware = false) =>
        Fragmentation.OfCluster(PlanApplied.To(nodes, plan), workload, memoryAware);
}
