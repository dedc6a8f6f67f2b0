using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Foundation;

[TestFixture]
public sealed class QueueTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public void Higher_priority_first_and_fifo_within_a_priority()
    {
        var policy = new PriorityAgingQueuePolicy(TimeSpan.Zero);
        QueuedJob[] jobs = [Job("low", 10, 0, 1), Job("high-2", 500, 0, 3), Job("high-1", 500, 0, 2), Job("mid", 100, 0, 4)];

        var order = policy.Order(jobs, T0).Select(j => j.Demand.JobId);

        Assert.That(order, Is.EqualTo(new[] { "high-1", "high-2", "mid", "low" }));
    }

    [Test]
    public void Aging_lets_a_long_waiting_low_priority_job_overtake()
    {
        var policy = new PriorityAgingQueuePolicy(TimeSpan.FromMinutes(1), agingStep: 10);
        var old = Job("old-low", 50, minutesAgo: 30, sequence: 1);
        var fresh = Job("fresh-high", 300, minutesAgo: 0, sequence: 2);

        Assert.That(policy.Order([old, fresh], T0)[0].Demand.JobId, Is.EqualTo("old-low"), "50 + 30 steps of 10 = 350 > 300");
        Assert.That(policy.Order([old, fresh], T0.AddMinutes(-10))[0].Demand.JobId, Is.EqualTo("fresh-high"), "ten minutes earlier it had only 250");
        Assert.That(policy.EffectivePriority(old, T0), Is.EqualTo(350));
    }

    [Test]
    public void Aging_boost_is_capped()
    {
        var policy = new PriorityAgingQueuePolicy(TimeSpan.FromSeconds(1), agingStep: 10, maxBoost: 100);
        Assert.That(policy.EffectivePriority(Job("j", 1, minutesAgo: 600, sequence: 1), T0), Is.EqualTo(101));
    }

    [Test]
    public void A_big_job_that_fits_nowhere_does_not_block_smaller_ones_behind_it()
    {
        var nodes = new Dictionary<string, NodeState> { ["n1"] = Nodes.Node("n1", gpus: 2) };
        var cycle = new SchedulingCycle(new PriorityAgingQueuePolicy(TimeSpan.Zero), new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default)));
        QueuedJob[] waiting = [Job("huge", 900, 0, 1, gpus: 8), Job("small-1", 100, 0, 2, gpus: 1), Job("small-2", 100, 0, 3, gpus: 1), Job("small-3", 100, 0, 4, gpus: 1)];

        var decisions = cycle.Run(waiting, nodes, T0);

        Assert.That(decisions.Select(d => (d.Job.Demand.JobId, d.Allocation is not null)), Is.EqualTo(new[]
        {
            ("huge", false), ("small-1", true), ("small-2", true), ("small-3", false),
        }));
        Assert.That(decisions[0].Reason, Does.StartWith("fits no node's total capacity").And.Contain("too few GPUs in total"));
        Assert.That(nodes["n1"].IdleGpuCount, Is.Zero, "the cycle applied its allocations");
        Nodes.AssertConsistent(nodes["n1"]);
    }

    private static QueuedJob Job(string id, int priority, int minutesAgo, long sequence, int gpus = 0) =>
        new(JobDemand.Of(id, new ResourceRequest(100, 100, gpus)), priority, T0.AddMinutes(-minutesAgo), sequence);
}
