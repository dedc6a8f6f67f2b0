using Microsoft.Extensions.Time.Testing;
using Scheduler.Master.Security;

namespace Scheduler.Master.Tests.Security;

[TestFixture]
public sealed class RequestRateLimiterTests
{
    [Test]
    public void A_caller_gets_its_burst_then_a_wait_until_the_next_request_refills()
    {
        var time = new FakeTimeProvider();
        var limiter = new RequestRateLimiter(perSecond: 2, burst: 3, time);
        Assert.That(Enumerable.Range(0, 3).Select(_ => limiter.TryAcquire("t1")), Is.All.Null);

        var wait = limiter.TryAcquire("t1");
        Assert.That(wait, Is.EqualTo(TimeSpan.FromMilliseconds(500)));

        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.That(limiter.TryAcquire("t1"), Is.Null);
        Assert.That(limiter.TryAcquire("t1"), Is.Not.Null);
    }

    [Test]
    public void Callers_have_separate_buckets()
    {
        var limiter = new RequestRateLimiter(perSecond: 1, burst: 1, new FakeTimeProvider());
        Assert.That(limiter.TryAcquire("a"), Is.Null);
        Assert.That(limiter.TryAcquire("a"), Is.Not.Null);
        Assert.That(limiter.TryAcquire("b"), Is.Null);
    }

    [Test]
    public void An_idle_caller_refills_no_further_than_its_burst()
    {
        var time = new FakeTimeProvider();
        var limiter = new RequestRateLimiter(perSecond: 10, burst: 2, time);
        limiter.TryAcquire("a");
        time.Advance(TimeSpan.FromHours(1));
        Assert.That(Enumerable.Range(0, 3).Select(_ => limiter.TryAcquire("a") is null), Is.EqualTo(new[] { true, true, false }));
    }

    [Test]
    public void A_rate_of_zero_limits_nothing()
    {
        var limiter = new RequestRateLimiter(perSecond: 0, burst: 1, new FakeTimeProvider());
        Assert.That(Enumerable.Range(0, 100).Select(_ => limiter.TryAcquire("a")), Is.All.Null);
    }

    [Test]
    public void The_stream_cap_counts_per_caller_and_frees_a_slot_on_close()
    {
        var streams = new StreamCounter(2);
        Assert.That(new[] { streams.TryOpen("a"), streams.TryOpen("a"), streams.TryOpen("a"), streams.TryOpen("b") }, Is.EqualTo(new[] { true, true, false, true }));
        streams.Close("a");
        Assert.That(streams.TryOpen("a"), Is.True);
    }
}
