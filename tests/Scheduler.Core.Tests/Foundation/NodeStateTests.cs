using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Foundation;

[TestFixture]
public sealed class NodeStateTests
{
    [Test]
    public void Allocate_and_release_keep_per_gpu_books()
    {
        var node = Nodes.Node("n1", gpus: 2);
        node.Allocate(new Allocation("a", "n1", new ResourceRequest(1000, 1024, GpuMilli: 300), [new GpuShare(1, 300)]));
        node.Allocate(new Allocation("b", "n1", new ResourceRequest(1000, 1024, Gpus: 1), [new GpuShare(0, 1000)]));

        Assert.That(node.GpuFreeMilli.ToArray(), Is.EqualTo(new[] { 0, 700 }));
        Assert.That(node.IdleGpuCount, Is.Zero);
        Assert.That(node.GpuFreeMilliTotal, Is.EqualTo(700));
        Nodes.AssertConsistent(node);

        Assert.That(node.Release("b"), Is.True);
        Assert.That(node.Release("b"), Is.False, "releasing twice changes nothing");
        Assert.That(node.GpuFreeMilli.ToArray(), Is.EqualTo(new[] { 1000, 700 }));
        Assert.That(node.CpuFree, Is.EqualTo(15_000));
        Nodes.AssertConsistent(node);
    }

    [Test]
    public void Allocation_over_capacity_or_twice_is_refused_and_changes_nothing()
    {
        var node = Nodes.Node("n1", gpus: 1, cpu: 2000);
        node.Allocate(new Allocation("a", "n1", new ResourceRequest(500, 100, GpuMilli: 600), [new GpuShare(0, 600)]));

        Assert.That(() => node.Allocate(new Allocation("a", "n1", new ResourceRequest(1, 1), [])), Throws.InvalidOperationException);
        Assert.That(() => node.Allocate(new Allocation("b", "n1", new ResourceRequest(500, 100, GpuMilli: 500), [new GpuShare(0, 500)])), Throws.InvalidOperationException);
        Assert.That(() => node.Allocate(new Allocation("c", "n1", new ResourceRequest(5000, 100), [])), Throws.InvalidOperationException);
        Assert.That(() => node.Allocate(new Allocation("d", "n1", new ResourceRequest(1, 1, Gpus: 1), [new GpuShare(3, 1000)])), Throws.InvalidOperationException);

        Assert.That(node.Allocations.Keys, Is.EqualTo(new[] { "a" }));
        Assert.That((node.CpuFree, node.GpuFreeMilli[0]), Is.EqualTo((1500L, 400)));
    }

    [Test]
    public void Only_ready_uncordoned_undrained_nodes_are_schedulable()
    {
        var node = Nodes.Node("n1");
        Assert.That(node.Schedulable, Is.True);
        node.Health = NodeHealth.Suspect;
        Assert.That(node.Schedulable, Is.False);
        node.Health = NodeHealth.Ready;
        node.Cordoned = true;
        Assert.That(node.Schedulable, Is.False);
        node.Cordoned = false;
        node.Draining = true;
        Assert.That(node.Schedulable, Is.False);
    }

    [Test]
    public void Resource_request_classifies_gpu_needs()
    {
        Assert.That(new ResourceRequest(1, 1).NeedsGpu, Is.False);
        Assert.That(new ResourceRequest(1, 1, GpuMilli: 500).IsSharedGpu, Is.True);
        Assert.That(new ResourceRequest(1, 1, Gpus: 2).IsSharedGpu, Is.False);
        Assert.That(new ResourceRequest(1, 1, Gpus: 2).TotalGpuMilli, Is.EqualTo(2000));
        Assert.That(new ResourceRequest(1, 1, GpuMilli: 250).TotalGpuMilli, Is.EqualTo(250));
    }
}
