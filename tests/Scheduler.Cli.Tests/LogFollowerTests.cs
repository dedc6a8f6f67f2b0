using System.Text;
using Scheduler.Cli.Commands;

namespace Scheduler.Cli.Tests;

/// <summary>How `logs --follow` finds new output between two tails of the same log.</summary>
[TestFixture]
public sealed class LogFollowerTests
{
    [Test]
    public void A_whole_log_that_grew_prints_only_the_new_end()
    {
        var start = LogFollower.NewStart(Bytes("step 1\n"), previousWhole: true, Bytes("step 1\nstep 2\n"), out var gap);

        Assert.That((start, gap), Is.EqualTo((7, false)));
    }

    [Test]
    public void A_sliding_tail_is_aligned_on_the_end_of_the_previous_one()
    {
        var log = string.Concat(Enumerable.Range(1, 2000).Select(i => $"line {i}\n"));
        var previous = Bytes(log[..9000])[^5000..];
        var current = Bytes(log[..12000])[^8000..];

        var start = LogFollower.NewStart(previous, previousWhole: false, current, out var gap);

        Assert.That(gap, Is.False);
        Assert.That(Encoding.UTF8.GetString(current[start..]), Is.EqualTo(log[9000..12000]));
    }

    [Test]
    public void Tails_that_do_not_overlap_are_reported_as_a_gap()
    {
        var start = LogFollower.NewStart(Bytes("old output\n"), previousWhole: false, Bytes("entirely new\n"), out var gap);

        Assert.That((start, gap), Is.EqualTo((0, true)));
    }

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
}
