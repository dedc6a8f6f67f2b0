using Scheduler.Core.Cluster;
using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

/// <summary>
/// Many waiting gangs that do not fit cost one probe of the nodes per replica shape, not one per gang,
/// and none in a later pass while free capacity has not grown; the answers are those a probe gives.
/// </summary>
public sealed class GangShortfallTests
{
    [Test]
    public void Gangs_of_one_shape_that_do_not_fit_are_probed_once_per_pass_and_not_again_until_capacity_grows()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));
        var waiting = Enumerable.Range(0, 50).SelectMany(i => GangJobs.Expand(Job($"g{i:D2}", i, gpus: 6), 3)).ToArray();
        var cycle = Cycle();

        var first = cycle.Run(waiting, nodes, T0);

        Assert.That(cycle.GangsProbed, Is.EqualTo(1), "the first gang's shortfall answers the other 49");
        Assert.That(first.Select(d => d.Placed), Is.All.False);
        Assert.That(first.Where(d => d.Job.JobId == "g37/0").Single().Reason, Is.EqualTo("gang g37: needs 3 replicas × 6 GPUs; largest feasible set: 2 (n1: 1, n2: 1)"));

        var second = cycle.Run(waiting, nodes, T0.AddSeconds(1));
        Assert.That(cycle.GangsProbed, Is.Zero, "nothing grew: no gang is probed again");
        Assert.That(second.Select(d => d.Reason), Is.EqualTo(first.Select(d => d.Reason)));

        nodes["n3"] = Node("n3", gpus: 8);
        var third = cycle.Run(waiting, nodes, T0.AddSeconds(2));
        Assert.That(cycle.GangsProbed, Is.EqualTo(2), "a node came: the first gang is probed and placed, the second falls short anew");
        Assert.That(third.Count(d => d.Placed), Is.EqualTo(3));
        Assert.That(third.Single(d => d.Job.JobId == "g01/0").Reason, Does.StartWith("gang g01: needs 3 replicas × 6 GPUs; largest feasible set: 0"));
    }

    [Test]
    public void A_smaller_gang_of_the_same_shape_is_still_probed_and_placed()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));
        var big = GangJobs.Expand(Job("big", 1, gpus: 6), 3);
        var small = GangJobs.Expand(Job("small", 2, gpus: 6), 2);
        var cycle = Cycle();

        var decisions = cycle.Run([.. big, .. small], nodes, T0);

        Assert.That(cycle.GangsProbed, Is.EqualTo(2));
        Assert.That(decisions.Where(d => d.Job.GangId == "small").Select(d => d.Placed), Is.All.True);
    }

    [Test]
    public void Capacity_given_back_between_passes_is_seen()
    {
        var nodes = Nodes(Node("n1", gpus: 8), Node("n2", gpus: 8));
        var holder = Job("holder", 1, gpus: 8);
        var cycle = Cycle();
        Assert.That(cycle.Run([holder], nodes, T0).Single().Placed, Is.True);
        var gang = GangJobs.Expand(Job("g", 2, gpus: 6), 2);
        Assert.That(cycle.Run(gang, nodes, T0).Select(d => d.Placed), Is.All.False);

        var held = nodes.Values.Single(n => n.Allocations.ContainsKey("holder"));
        held.Release("holder");
        var again = cycle.Run(gang, nodes, T0.AddSeconds(1));

        Assert.That(cycle.GangsProbed, Is.EqualTo(1));
        Assert.That(again.Select(d => d.Placed), Is.All.True);
    }
}
