using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Rebalancing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Rebalancing;

public sealed class RebalancePlannerTests
{
    [Test]
    public void Moves_work_off_the_hottest_node()
    {
        var nodes = Nodes(Node("hot", gpus: 4), Node("cold", gpus: 4));
        for (var i = 0; i < 4; i++)
        {
            Start(nodes["hot"], Job($"j{i}", i, gpus: 1), T0);
        }

        var plan = new RebalancePlanner(maxMigrations: 4).Plan(nodes.Values);

        Assert.That(plan.Select(m => (m.FromNode, m.ToNode)), Is.EqualTo(new[] { ("hot", "cold"), ("hot", "cold") }));
        Assert.That(PlanApplied.To(nodes, plan).Max(RebalancePlanner.Load), Is.EqualTo(0.5));
    }

    [Test]
    public void Proposes_nothing_when_no_move_lowers_the_peak()
    {
        var nodes = Nodes(Node("a", gpus: 2), Node("b", gpus: 2));
        Start(nodes["a"], Job("x", 1, gpus: 1), T0);
        Start(nodes["b"], Job("y", 2, gpus: 1), T0);

        Assert.That(new RebalancePlanner().Plan(nodes.Values), Is.Empty);
    }

    [Test]
    public void Respects_the_bound_and_what_may_move()
    {
        var nodes = Nodes(Node("hot", gpus: 8), Node("cold", gpus: 8));
        for (var i = 0; i < 8; i++)
        {
            Start(nodes["hot"], Job($"j{i}", i, gpus: 1), T0);
        }

        var plan = new RebalancePlanner(maxMigrations: 2).Plan(nodes.Values, a => a.JobId != "j0");

        Assert.That(plan, Has.Count.EqualTo(2));
        Assert.That(plan.Select(m => m.JobId), Has.None.EqualTo("j0"));
    }

    [Test]
    public void Moves_only_to_nodes_that_can_receive()
    {
        var nodes = Nodes(Node("hot", gpus: 4), Node("closed", gpus: 4), Node("open", gpus: 4));
        for (var i = 0; i < 4; i++)
        {
            Start(nodes["hot"], Job($"j{i}", i, gpus: 1), T0);
        }

        var plan = new RebalancePlanner(maxMigrations: 4).Plan(nodes.Values, canReceive: n => n.Id != "closed");

        Assert.That(plan.Select(m => m.ToNode), Is.EqualTo(new[] { "open", "open" }));
    }

    [Test]
    public void Never_overcommits_never_raises_the_peak_and_is_deterministic_on_random_clusters()
    {
        var random = new Random(31);
        var lowered = 0;
        for (var scenario = 0; scenario < 300; scenario++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(2, 6)).Select(i => Node($"n{i}", cpuCores: 16, gpus: random.Next(0, 9), model: i % 3 == 0 ? "H100" : "A100")).ToArray());
            var engine = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default));
            for (var j = 0; j < 25; j++)
            {
                // Pile work onto low-numbered nodes so there is something to rebalance.
                var host = nodes[$"n{Math.Min(random.Next(nodes.Count), random.Next(nodes.Count))}"];
                var job = Job($"j{j}", j, cpuCores: random.Next(1, 4), gpus: random.Next(0, 3), memoryMib: random.Next(1, 64) * 1024);
                if (random.Next(3) == 0 && job.Demand.Resources.Gpus == 0)
                {
                    job = job with { Demand = job.Demand with { Resources = job.Demand.Resources with { GpuMilli = random.Next(1, 1000) } } };
                }

                if (engine.Find(job.Demand, [host]).Allocation is { } allocation)
                {
                    host.Allocate(allocation);
                }
            }

            var before = nodes.Values.Max(RebalancePlanner.Load);
            var planner = new RebalancePlanner(maxMigrations: 3);
            var plan = planner.Plan(nodes.Values);

            Assert.That(plan, Has.Count.LessThanOrEqualTo(3));
            Assert.That(planner.Plan(nodes.Values).Select(PlanApplied.Describe), Is.EqualTo(plan.Select(PlanApplied.Describe)), "deterministic");
            Assert.That(plan.Select(m => m.JobId), Is.Unique);
            var after = PlanApplied.To(nodes, plan).Max(RebalancePlanner.Load);
            Assert.That(after, Is.LessThanOrEqualTo(before + 1e-12), $"scenario {scenario}");
            lowered += after < before - 1e-9 ? 1 : 0;

            foreach (var m in plan)
            {
                var heldModels = nodes[m.FromNode].Allocations[m.JobId].Gpus.Select(g => nodes[m.FromNode].Gpus[g.Index].Model).Distinct();
                Assert.That(m.Target.Gpus.Select(g => nodes[m.ToNode].Gpus[g.Index].Model).Distinct(), Is.SubsetOf(heldModels), "same GPU model");
            }
        }

        Assert.That(lowered, Is.GreaterThan(100));
    }

}
