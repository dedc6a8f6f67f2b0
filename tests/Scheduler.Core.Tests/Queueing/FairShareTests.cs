using Scheduler.Core.Fairness;
using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

public sealed class FairShareTests
{
    [Test]
    public void The_tenant_with_the_smaller_dominant_share_goes_first()
    {
        var capacity = new ResourceTotals(64_000, 512 * 1024, 8_000);
        var usage = new Dictionary<string, ResourceTotals>
        {
            ["heavy"] = new(4_000, 8 * 1024, 4_000),
            ["light"] = new(16_000, 8 * 1024, 0),
        };
        var jobs = new[] { Job("heavy-1", 1, tenant: "heavy"), Job("light-1", 2, tenant: "light"), Job("new-1", 3, tenant: "new") };

        var order = QueuePolicies.Create(QueuePolicyNames.DominantResourceFairness).Order(jobs, new QueueContext(T0, capacity, usage));

        Assert.That(Ids(order), Is.EqualTo(new[] { "new-1", "light-1", "heavy-1" }), "shares 0, 0.25 (CPU), 0.5 (GPU)");
    }

    [Test]
    public void Shares_converge_to_the_drf_allocation_of_the_paper_example()
    {
        // Ghodsi et al. NSDI'11: 9 CPUs and 18 GB; A's tasks take <1 CPU, 4 GB>, B's <3 CPU, 1 GB>.
        // DRF equalises dominant shares at 2/3: three tasks for A, two for B.
        var nodes = Nodes(Node("n1", cpuCores: 9, memoryMib: 18 * 1024));
        var waiting = Enumerable.Range(0, 10)
            .SelectMany(i => new[]
            {
                Job($"a{i}", (2 * i) + 1, cpuCores: 1, memoryMib: 4 * 1024, tenant: "A"),
                Job($"b{i}", (2 * i) + 2, cpuCores: 3, memoryMib: 1024, tenant: "B"),
            })
            .ToArray();

        var decisions = Cycle(QueuePolicyNames.DominantResourceFairness).Run(waiting, nodes, T0);

        var placed = decisions.Where(d => d.Placed).GroupBy(d => d.Job.Tenant).ToDictionary(g => g.Key, g => g.Count());
        Assert.That(placed, Is.EqualTo(new Dictionary<string, int> { ["A"] = 3, ["B"] = 2 }));
    }

    [Test]
    public void Fifo_on_the_same_example_is_not_fair_which_shows_the_drf_test_can_fail()
    {
        var nodes = Nodes(Node("n1", cpuCores: 9, memoryMib: 18 * 1024));
        var waiting = Enumerable.Range(0, 10).Select(i => Job($"a{i}", i, cpuCores: 1, memoryMib: 4 * 1024, tenant: "A"))
            .Concat(Enumerable.Range(0, 10).Select(i => Job($"b{i}", 100 + i, cpuCores: 3, memoryMib: 1024, tenant: "B")))
            .ToArray();

        var decisions = Cycle(QueuePolicyNames.Fifo).Run(waiting, nodes, T0);

        Assert.That(decisions.Count(d => d.Placed && d.Job.Tenant == "B"), Is.LessThan(2));
    }

    [Test]
    public void Running_work_counts_towards_a_tenants_share_in_the_cycle()
    {
        var nodes = Nodes(Node("n1", cpuCores: 32, gpus: 8), Node("n2", cpuCores: 32, gpus: 8));
        var running = new Dictionary<string, RunningJob>
        {
            ["old"] = Start(nodes["n1"], Job("old", 0, gpus: 6, tenant: "busy"), T0),
        };
        var waiting = new[] { Job("busy-1", 1, gpus: 1, tenant: "busy"), Job("idle-1", 2, gpus: 1, tenant: "idle") };

        var decisions = Cycle(QueuePolicyNames.DominantResourceFairness).Run(waiting, nodes, T0, running);

        Assert.That(decisions.Select(d => d.Job.JobId), Is.EqualTo(new[] { "idle-1", "busy-1" }));
    }

    [Test]
    public void A_tenant_over_its_quota_is_not_scheduled_and_is_told_which_quota()
    {
        var nodes = Nodes(Node("n1", cpuCores: 32, gpus: 8));
        var running = new Dictionary<string, RunningJob> { ["r"] = Start(nodes["n1"], Job("r", 0, gpus: 1, tenant: "team"), T0) };
        var quotas = new TenantQuotas(new Dictionary<string, ResourceTotals>
        {
            ["team"] = ResourceTotals.Unlimited with { GpuMilli = 2_000 },
        });
        var waiting = new[] { Job("t1", 1, gpus: 1, tenant: "team"), Job("t2", 2, gpus: 1, tenant: "team"), Job("o1", 3, gpus: 1, tenant: "other") };

        var decisions = Cycle(QueuePolicyNames.DominantResourceFairness, new SchedulingCycleOptions { Quotas = quotas })
            .Run(waiting, nodes, T0, running)
            .ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["t1"].Placed, Is.True);
        Assert.That(decisions["o1"].Placed, Is.True);
        Assert.That(decisions["t2"].Placed, Is.False);
        Assert.That(decisions["t2"].Reason, Does.Contain("tenant 'team' GPU quota exceeded").And.Contain("quota 2000"));
    }

    [Test]
    public void Weights_scale_a_tenants_share()
    {
        var capacity = new ResourceTotals(100_000, 100_000, 10_000);
        var usage = new Dictionary<string, ResourceTotals> { ["gold"] = new(0, 0, 4_000), ["bronze"] = new(0, 0, 2_000) };
        var policy = QueuePolicies.Create(QueuePolicyNames.DominantResourceFairness, new QueuePolicyOptions
        {
            TenantWeights = new Dictionary<string, double> { ["gold"] = 4 },
        });

        var order = policy.Order([Job("bronze-1", 1, tenant: "bronze"), Job("gold-1", 2, tenant: "gold")], new QueueContext(T0, capacity, usage));

        Assert.That(order[0].JobId, Is.EqualTo("gold-1"), "0.4 / 4 < 0.2 / 1");
    }
}
