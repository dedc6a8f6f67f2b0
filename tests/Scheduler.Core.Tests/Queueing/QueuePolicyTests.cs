using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

public sealed class QueuePolicyTests
{
    [Test]
    public void Fifo_orders_by_arrival_whatever_the_priority()
    {
        var jobs = new[] { Job("c", 3, priority: 900), Job("a", 1, priority: 1), Job("b", 2, priority: 500) };

        var order = QueuePolicies.Create(QueuePolicyNames.Fifo).Order(jobs, T0);

        Assert.That(Ids(order), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public void Sjf_runs_shortest_estimate_first_and_unknown_estimates_last_in_arrival_order()
    {
        var jobs = new[]
        {
            Job("unknown-late", 5),
            Job("long", 1, runtime: TimeSpan.FromHours(2)),
            Job("unknown-early", 2),
            Job("short", 3, runtime: TimeSpan.FromMinutes(5)),
            Job("short-later", 4, runtime: TimeSpan.FromMinutes(5)),
        };

        var order = QueuePolicies.Create(QueuePolicyNames.ShortestJobFirst).Order(jobs, T0);

        Assert.That(Ids(order), Is.EqualTo(new[] { "short", "short-later", "long", "unknown-early", "unknown-late" }));
    }

    [Test]
    public void Priority_orders_higher_first_and_fifo_within_a_priority()
    {
        var jobs = new[] { Job("low", 1, priority: 10), Job("high-2", 3, priority: 500), Job("high-1", 2, priority: 500) };

        var order = QueuePolicies.Create(QueuePolicyNames.Priority).Order(jobs, T0);

        Assert.That(Ids(order), Is.EqualTo(new[] { "high-1", "high-2", "low" }));
    }

    [Test]
    public void Aging_lets_a_low_priority_job_overtake_a_stream_of_newer_high_priority_jobs_eventually()
    {
        var policy = QueuePolicies.Create(QueuePolicyNames.Priority, new QueuePolicyOptions { AgingInterval = TimeSpan.FromMinutes(1), AgingStep = 10 });
        var low = Job("low", 0, priority: 100, enqueued: T0);

        // A new priority-500 job arrives every minute; the low job must reach the head at some point.
        int? overtakenAfterMinutes = null;
        for (var minute = 0; minute <= 120 && overtakenAfterMinutes is null; minute++)
        {
            var now = T0.AddMinutes(minute);
            var fresh = Job($"high-{minute}", minute + 1, priority: 500, enqueued: now);
            if (policy.Order([fresh, low], now)[0] == low)
            {
                overtakenAfterMinutes = minute;
            }
        }

        Assert.That(overtakenAfterMinutes, Is.EqualTo(40), "100 + 40 steps of 10 ties 500, and the older job wins a tie");
    }

    [Test]
    public void Aging_boost_is_capped_and_does_not_overflow_after_a_very_long_wait()
    {
        var policy = new PriorityAgingQueuePolicy(TimeSpan.FromTicks(1), agingStep: 1000, maxBoost: 200);
        var job = Job("old", 1, priority: 5, enqueued: DateTimeOffset.MinValue);

        Assert.That(policy.EffectivePriority(job, DateTimeOffset.MaxValue), Is.EqualTo(205));
    }

    [TestCase("priority")]
    [TestCase("fifo")]
    [TestCase("sjf")]
    [TestCase("drf")]
    public void Factory_creates_every_named_policy(string name)
    {
        Assert.That(QueuePolicies.Create(name).Name, Is.EqualTo(name));
    }

    [Test]
    public void Factory_rejects_an_unknown_name_and_lists_the_known_ones()
    {
        Assert.That(() => QueuePolicies.Create("lottery"), Throws.ArgumentException.With.Message.Contains("drf"));
    }

    [Test]
    public void Every_policy_returns_each_job_exactly_once_for_random_queues()
    {
        var random = new Random(7);
        foreach (var name in QueuePolicies.Names)
        {
            var policy = QueuePolicies.Create(name);
            for (var round = 0; round < 50; round++)
            {
                var jobs = Enumerable.Range(0, random.Next(0, 40))
                    .Select(i => Job($"j{i}", i, priority: random.Next(1, 1001), cpuCores: random.Next(1, 8),
                        tenant: $"t{random.Next(3)}", runtime: random.Next(3) == 0 ? null : TimeSpan.FromMinutes(random.Next(1, 100)),
                        enqueued: T0.AddSeconds(random.Next(0, 3600))))
                    .ToArray();

                var order = policy.Order(jobs, T0.AddHours(1));

                Assert.That(order, Is.EquivalentTo(jobs), name);
                Assert.That(policy.Order(jobs.Reverse().ToArray(), T0.AddHours(1)), Is.EqualTo(order), $"{name} depends on input order");
            }
        }
    }
}
