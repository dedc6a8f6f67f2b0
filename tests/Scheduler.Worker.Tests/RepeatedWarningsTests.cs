using Microsoft.Extensions.Time.Testing;
using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class RepeatedWarningsTests
{
    [Test]
    public void A_burst_is_logged_and_the_rest_of_the_window_is_counted_not_logged()
    {
        var warnings = new RepeatedWarnings(new FakeTimeProvider(), burst: 3, window: TimeSpan.FromSeconds(10));

        var logged = Enumerable.Range(0, 1000).Count(_ => warnings.TryLog(out long _));

        Assert.That(logged, Is.EqualTo(3));
    }

    [Test]
    public void The_first_warning_of_a_new_window_reports_how_many_were_held_back()
    {
        var time = new FakeTimeProvider();
        var warnings = new RepeatedWarnings(time, burst: 2, window: TimeSpan.FromSeconds(10));
        for (var i = 0; i < 50; i++)
        {
            warnings.TryLog(out _);
        }

        time.Advance(TimeSpan.FromSeconds(10));
        var logged = warnings.TryLog(out var suppressed);
        var loggedAgain = warnings.TryLog(out var suppressedAgain);

        Assert.That(logged, Is.True);
        Assert.That(suppressed, Is.EqualTo(48));
        Assert.That(loggedAgain, Is.True);
        Assert.That(suppressedAgain, Is.Zero, "each held-back warning is reported once");
    }

    [Test]
    public void Occasional_warnings_are_all_logged()
    {
        var time = new FakeTimeProvider();
        var warnings = new RepeatedWarnings(time);

        var logged = 0;
        for (var i = 0; i < 100; i++)
        {
            logged += warnings.TryLog(out var suppressed) && suppressed == 0 ? 1 : 0;
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.That(logged, Is.EqualTo(100));
    }
}
