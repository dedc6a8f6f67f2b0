using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

public sealed class PlacementPropertyTests
{
    private static readonly string[] Models = ["A100", "T4", "V100"];

    private static IEnumerable<string> Policies => PlacementPolicies.Names;

    [TestCaseSource(nameof(Policies))]
    public void Never_exceeds_capacity_and_honours_gpu_constraints(string policy)
    {
        for (var seed = 1; seed <= 25; seed++)
        {
            var (nodes, demands) = RandomScenario(seed);
            var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, TaskDistribution.FromDemands(demands)));
            var byId = nodes.ToDictionary(n => n.Id);
            foreach (var demand in demands)
            {
                var allocation = engine.FindAllocation(demand, nodes);
                if (allocation is null)
                {
                    Assert.That(nodes.All(n => PlacementEngine.Filter(n, demand) is not null), Is.True, $"seed {seed}: {demand} fits somewhere but was not placed");
                    continue;
                }

                var node = byId[allocation.NodeId];
                AssertShape(node, demand, allocation, seed);
                node.Allocate(allocation);
                Assert.That(node.CpuFree, Is.GreaterThanOrEqualTo(0));
                Assert.That(node.MemoryFree, Is.GreaterThanOrEqualTo(0));
                foreach (var free in node.GpuFreeMilli.ToArray())
                {
                    Assert.That(free, Is.InRange(0, ResourceLimits.MilliPerGpu));
                }
            }
        }
    }

    [TestCaseSource(nameof(Policies))]
    public void Places_the_same_way_for_the_same_seed(string policy)
    {
        for (var seed = 1; seed <= 5; seed++)
        {
            var first = Replay(policy, seed);
            var second = Replay(policy, seed);
            Assert.That(second, Is.EqualTo(first), $"seed {seed}");
        }
    }

    [Test]
    public void Default_policy_is_a_known_policy()
    {
        Assert.That(PlacementPolicies.IsKnown(PlacementPolicies.Default), Is.True);
        Assert.That(PlacementPolicies.Create(PlacementPolicies.Default).Name, Is.EqualTo(PlacementPolicies.Default));
    }

    [Test]
    public void Unknown_policy_name_is_rejected()
    {
        Assert.That(() => PlacementPolicies.Create("no-such-policy"), Throws.ArgumentException);
    }

    private static void AssertShape(NodeState node, JobDemand demand, Allocation allocation, int seed)
    {
        var r = demand.Resources;
        var gpus = allocation.Gpus;
        Assert.That(PlacementEngine.Filter(node, demand), Is.Null, $"seed {seed}: placed on a node that does not fit");
        if (r.IsSharedGpu)
        {
            Assert.That(gpus, Has.Count.EqualTo(1), $"seed {seed}: a shared task takes exactly one GPU");
            Assert.That(gpus[0].Milli, Is.EqualTo(r.GpuMilli));
            Assert.That(node.GpuFreeMilli[gpus[0].Index], Is.GreaterThanOrEqualTo(r.GpuMilli));
        }
        else
        {
            Assert.That(gpus, Has.Count.EqualTo(r.Gpus), $"seed {seed}: whole GPUs on one node");
            Assert.That(gpus.Select(g => g.Index).Distinct().Count(), Is.EqualTo(r.Gpus));
            foreach (var g in gpus)
            {
                Assert.That(g.Milli, Is.EqualTo(ResourceLimits.MilliPerGpu));
                Assert.That(node.GpuFreeMilli[g.Index], Is.EqualTo(ResourceLimits.MilliPerGpu), "a whole GPU must be idle");
            }
        }

        foreach (var g in gpus)
        {
            Assert.That(node.GpuModelAllowed(g.Index, demand.GpuModels), Is.True, $"seed {seed}: GPU model constraint broken");
        }
    }

    private static List<string> Replay(string policy, int seed)
    {
        var (nodes, demands) = RandomScenario(seed);
        var engine = new PlacementEngine(PlacementPolicies.Create(policy, seed, TaskDistribution.FromDemands(demands)));
        var byId = nodes.ToDictionary(n => n.Id);
        var log = new List<string>();
        foreach (var demand in demands)
        {
            var allocation = engine.FindAllocation(demand, nodes);
            if (allocation is not null)
            {
                byId[allocation.NodeId].Allocate(allocation);
            }

            log.Add(allocation is null ? "-" : $"{allocation.NodeId}:{string.Join(",", allocation.Gpus)}");
        }

        return log;
    }

    private static (NodeState[] Nodes, List<JobDemand> Demands) RandomScenario(int seed)
    {
        var random = new Random(seed);
        var nodes = new NodeState[random.Next(3, 13)];
        for (var n = 0; n < nodes.Length; n++)
        {
            var model = Models[random.Next(Models.Length)];
            var count = new[] { 0, 1, 2, 4, 8 }[random.Next(5)];
            var gpus = Enumerable.Range(0, count).Select(g => new GpuDevice(g, $"n{n}g{g}", model, 16_384)).ToArray();

            // Several identical nodes exercise the engine's equivalence classes.
            nodes[n] = n > 0 && random.Next(3) == 0
                ? new NodeState($"n{n:D2}", nodes[n - 1].CpuCapacity, nodes[n - 1].MemoryCapacity, nodes[n - 1].Gpus)
                : new NodeState($"n{n:D2}", random.Next(4, 64) * 1000L, random.Next(8, 256) * 1024L, gpus);
        }

        var demands = new List<JobDemand>();
        var tasks = random.Next(20, 80);
        for (var t = 0; t < tasks; t++)
        {
            var cpu = random.Next(1, 16) * 500L;
            var memory = random.Next(1, 32) * 1024L;
            var kind = random.Next(4);
            var request = kind switch
            {
                0 => new ResourceRequest(cpu, memory),
                1 => new ResourceRequest(cpu, memory, 0, random.Next(1, 20) * 50),
                2 => new ResourceRequest(cpu, memory, 1),
                _ => new ResourceRequest(cpu, memory, random.Next(2, 9)),
            };
            IReadOnlyList<string> models = random.Next(4) == 0 ? [Models[random.Next(Models.Length)]] : [];
            demands.Add(new JobDemand($"j{t}", request, models, new Dictionary<string, string>()));
        }

        return (nodes, demands);
    }
}
