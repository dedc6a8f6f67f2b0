using Scheduler.Master.Leadership;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class FailoverBudgetTests
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    [Test]
    public void The_defaults_hold()
    {
        var defaults = new MasterOptions();
        Assert.That(FailoverBudget.Check(
            TimeSpan.FromMilliseconds(defaults.LeaseTtlMs), Poll,
            TimeSpan.FromMilliseconds(defaults.HeartbeatIntervalMs), TimeSpan.FromMilliseconds(defaults.DeadAfterMs)), Is.Null);
    }

    [Test]
    public void A_lease_longer_than_the_workers_patience_is_refused_with_the_setting_to_change()
    {
        var problem = FailoverBudget.Check(TimeSpan.FromSeconds(15), Poll, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));

        Assert.That(problem, Does.Contain("--dead-after-ms").And.Contain("--lease-ttl-ms"));
    }

    [Test]
    public void The_lease_is_counted_in_whole_seconds_as_etcd_grants_it()
    {
        var needed1000 = FailoverBudget.Needed(TimeSpan.FromMilliseconds(1000), Poll, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(6));
        var needed1001 = FailoverBudget.Needed(TimeSpan.FromMilliseconds(1001), Poll, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(6));

        Assert.That(needed1001 - needed1000, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [TestCase(1000, 250)]
    [TestCase(2000, 1000)]
    [TestCase(5000, 500)]
    public void The_minimum_dead_after_it_suggests_is_the_smallest_that_holds(int leaseMs, int heartbeatMs)
    {
        var lease = TimeSpan.FromMilliseconds(leaseMs);
        var heartbeat = TimeSpan.FromMilliseconds(heartbeatMs);

        var minimum = FailoverBudget.MinimumDeadAfter(lease, Poll, heartbeat);

        Assert.That(FailoverBudget.Holds(lease, Poll, heartbeat, minimum), Is.True);
        Assert.That(FailoverBudget.Holds(lease, Poll, heartbeat, minimum - TimeSpan.FromMilliseconds(100)), Is.False);
        Assert.That(FailoverBudget.Check(lease, Poll, heartbeat, minimum - TimeSpan.FromMilliseconds(100)), Does.Contain($"at least {minimum.TotalMilliseconds:0}"));
    }
}
