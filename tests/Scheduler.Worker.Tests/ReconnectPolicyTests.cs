using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class ReconnectPolicyTests
{
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(2);

    [Test]
    public void A_hint_is_followed_after_the_floor_only()
    {
        var policy = new ReconnectPolicy(new Random(1));

        var delay = policy.NextDelay(retryAtOnce: true, nextInRound: true, lastRoundAnswered: true, failedRounds: 5, Cap);

        Assert.That(delay, Is.EqualTo(ReconnectPolicy.HintFloor));
    }

    [Test]
    public void The_next_address_of_a_round_is_tried_after_a_short_pause()
    {
        var policy = new ReconnectPolicy(new Random(1));

        var delay = policy.NextDelay(retryAtOnce: false, nextInRound: true, lastRoundAnswered: false, failedRounds: 5, Cap);

        Assert.That(delay, Is.EqualTo(ReconnectPolicy.NextAddressPause));
    }

    [Test]
    public void A_round_a_standby_answered_is_polled_like_an_election()
    {
        var policy = new ReconnectPolicy(new Random(7));

        for (var i = 0; i < 1000; i++)
        {
            var delay = policy.NextDelay(retryAtOnce: false, nextInRound: false, lastRoundAnswered: true, failedRounds: 9, Cap);
            Assert.That(delay, Is.InRange(ReconnectPolicy.ElectionPoll / 2, ReconnectPolicy.ElectionPoll * 1.5));
        }
    }

    [Test]
    public void Failed_rounds_back_off_exponentially_with_jitter_up_to_the_cap()
    {
        var policy = new ReconnectPolicy(new Random(42));

        for (var rounds = 0; rounds < 40; rounds++)
        {
            var ceiling = Math.Min(Cap.TotalMilliseconds, 200 * Math.Pow(2, Math.Min(Math.Max(0, rounds - 1), 16)));
            var delay = policy.NextDelay(retryAtOnce: false, nextInRound: false, lastRoundAnswered: false, rounds, Cap);
            Assert.That(delay.TotalMilliseconds, Is.InRange(ceiling / 2, ceiling), $"after {rounds} failed rounds");
        }
    }

    [Test]
    public void The_same_seed_gives_the_same_delays()
    {
        var first = new ReconnectPolicy(new Random(3));
        var second = new ReconnectPolicy(new Random(3));

        var a = Enumerable.Range(0, 10).Select(i => first.Backoff(i, Cap)).ToArray();
        var b = Enumerable.Range(0, 10).Select(i => second.Backoff(i, Cap)).ToArray();

        Assert.That(a, Is.EqualTo(b));
    }

    [Test]
    public void A_registered_stream_that_ended_is_followed_by_a_short_jittered_pause()
    {
        var policy = new ReconnectPolicy(new Random(5));

        var delays = Enumerable.Range(0, 1000).Select(_ => policy.AfterSessionEnded(0, Cap)).ToArray();

        Assert.That(delays, Has.All.InRange(ReconnectPolicy.HintFloor, ReconnectPolicy.SessionEndedBase));
        Assert.That(delays.Distinct().Count(), Is.GreaterThan(900), "spread out, not in lockstep");
    }

    [Test]
    public void Streams_that_keep_ending_back_off_exponentially_up_to_the_cap()
    {
        var policy = new ReconnectPolicy(new Random(11));

        for (var inARow = 0; inARow < 30; inARow++)
        {
            var ceiling = TimeSpan.FromMilliseconds(Math.Min(Cap.TotalMilliseconds, ReconnectPolicy.SessionEndedBase.TotalMilliseconds * Math.Pow(2, Math.Min(inARow, 16))));
            var delays = Enumerable.Range(0, 200).Select(_ => policy.AfterSessionEnded(inARow, Cap)).ToArray();

            Assert.That(delays, Has.All.InRange(ReconnectPolicy.HintFloor, ceiling), $"after {inARow} streams in a row");
            Assert.That(delays.Max(), Is.GreaterThan(ceiling * 0.8), $"after {inARow} streams in a row the whole range is used");
        }
    }
}
