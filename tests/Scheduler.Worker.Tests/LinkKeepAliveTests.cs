using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class LinkKeepAliveTests
{
    [Test]
    public void The_default_dead_after_gives_pings_after_a_sixth_of_it_answered_within_another_sixth()
    {
        var (delay, timeout) = LinkKeepAlive.For(TimeSpan.FromSeconds(12));

        Assert.That(delay, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(timeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public void Dead_afters_of_six_seconds_or_less_keep_the_one_second_ping()
    {
        Assert.That(LinkKeepAlive.For(TimeSpan.FromSeconds(6)), Is.EqualTo((TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1))));
    }

    [Test]
    public void A_frozen_master_is_found_within_a_third_of_its_dead_after_whatever_it_is()
    {
        foreach (var seconds in new[] { 6, 10, 30, 60, 160 })
        {
            var deadAfter = TimeSpan.FromSeconds(seconds);

            var (delay, timeout) = LinkKeepAlive.For(deadAfter);

            Assert.That(delay + timeout, Is.LessThanOrEqualTo(deadAfter / 3 + TimeSpan.FromMilliseconds(1)), $"dead-after {seconds} s (a tick of rounding allowed)");
        }
    }

    [Test]
    public void Short_dead_afters_never_ping_faster_than_once_a_second()
    {
        var (delay, timeout) = LinkKeepAlive.For(TimeSpan.FromMilliseconds(1500));

        Assert.That(delay, Is.EqualTo(LinkKeepAlive.Floor));
        Assert.That(timeout, Is.EqualTo(LinkKeepAlive.Floor));
    }

    [Test]
    public void Before_registration_the_masters_default_timings_are_assumed()
    {
        Assert.That(LinkKeepAlive.For(null), Is.EqualTo(LinkKeepAlive.For(LinkKeepAlive.UnknownDeadAfter)));
    }

    [Test]
    public void A_connection_shared_by_simulated_nodes_waits_half_of_dead_after_for_an_answer_and_still_finds_a_frozen_master_before_they_fence()
    {
        foreach (var seconds in new[] { 6, 10, 30 })
        {
            var deadAfter = TimeSpan.FromSeconds(seconds);

            var (delay, timeout) = LinkKeepAlive.ForShared(deadAfter);

            Assert.That(delay, Is.EqualTo(LinkKeepAlive.For(deadAfter).Delay), $"dead-after {seconds} s: probes as soon");
            Assert.That(timeout, Is.EqualTo(deadAfter / 2), $"dead-after {seconds} s");
            Assert.That(delay + timeout, Is.LessThanOrEqualTo(deadAfter * 2 / 3 + TimeSpan.FromMilliseconds(1)), $"dead-after {seconds} s");
        }
    }
}
