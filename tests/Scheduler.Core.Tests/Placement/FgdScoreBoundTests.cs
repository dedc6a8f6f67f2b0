using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The engine scores a class exactly only when its bound (<see cref="IScoreBounds"/>) could still win,
/// so a bound below the score a node really gets would place a job elsewhere than the full scan. The
/// bound must hold for every node state, job shape and task distribution, including nodes of several
/// GPU models, where a typical task may accept only some of the idle GPUs a whole-GPU job takes.
/// </summary>
public sealed class FgdScoreBoundTests
{
    private static readonly string[] Models = ["A100", "T4", "V100"];

    [Test]
    public void The_default_policy_gives_bounds()
    {
        Assert.That(PlacementPolicies.Create(PlacementPolicies.Default), Is.InstanceOf<IScoreBounds>().With.Property(nameof(IScoreBounds.HasScoreBounds)).True);
    }

    [TestCaseSource(typeof(EquivalenceCases), nameof(EquivalenceCases.BoundingPoliciesLearningOrNot))]
    public void The_bound_is_never_below_the_best_score_of_the_node(string policy, bool learning)
    {
        var checkedScores = 0;
        for (var seed = 1; seed <= 30; seed++)
        {
            var random = new Random(seed);
            var demands = Enumerable.Range(0, 60).Select(k => RandomDemand(random, $"j{seed}-{k}")).ToList();
            var placement = PlacementPolicies.Create(policy, seed, learning ? null : TaskDistribution.FromDemands(demands));
            var nodes = Enumerable.Range(0, 12).Select(i => RandomNode(random, $"n{seed}-{i}")).ToArray();
            checkedScores += EquivalenceCases.AssertBoundsHold(placement, demands, nodes, $"{policy} seed {seed}");
        }

        Assert.That(checkedScores, Is.GreaterThan(1000), "too few feasible pairs to say anything");
    }

    // 8 GPUs of one or two models, partly used by random whole and shared allocations.
    private static NodeState RandomNode(Random random, string id)
    {
        var first = Models[random.Next(Models.Length)];
        var second = random.Next(2) == 0 ? first : Models[random.Next(Models.Length)];
        var gpus = Enumerable.Range(0, 8).Select(g => new GpuDevice(g, $"{id}-{g}", g < 4 ? first : second, 0)).ToArray();
        var node = new NodeState(id, random.Next(8, 97) * 1000L, random.Next(32, 513) * 1024L, gpus);
        for (var k = random.Next(6); k > 0; k--)
        {
            var free = node.GpuFreeMilli;
            var g = random.Next(free.Length);
            var milli = random.Next(2) == 0 ? free[g] : Math.Min(free[g], random.Next(1, 10) * 100);
            var cpu = Math.Min(node.CpuFree, random.Next(0, 16) * 1000L);
            var memory = Math.Min(node.MemoryFree, random.Next(0, 64) * 1024L);
            if (milli > 0)
            {
                node.Allocate(new Allocation($"{id}-a{k}", id, new ResourceRequest(cpu, memory, 0, milli), [new GpuShare(g, milli)]));
            }
        }

        return node;
    }

    private static JobDemand RandomDemand(Random random, string id)
    {
        var request = random.Next(4) switch
        {
            0 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 16) * 1024L, 0, random.Next(1, 10) * 100),
            1 => new ResourceRequest(random.Next(1, 12) * 1000L, random.Next(1, 32) * 1024L, random.Next(1, 5)),
            2 => new ResourceRequest(random.Next(1, 8) * 1000L, random.Next(1, 8) * 1024L),
            _ => new ResourceRequest(random.Next(1, 4) * 1000L, 4096, 8),
        };
        IReadOnlyList<string> models = random.Next(3) == 0 ? [Models[random.Next(Models.Length)]] : [];
        return new JobDemand(id, request, models, new Dictionary<string, string>());
    }
}
