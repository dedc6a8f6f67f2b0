using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

/// <summary>
/// The pacing of dead verdicts on its own: a few silent nodes are declared at once; when many go
/// silent together they are declared at a bounded rate, longest silent first, and every one in the end.
/// </summary>
[TestFixture]
public sealed class MassSilenceGuardTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    private static MassSilenceGuard Guard() => new(minNodes: 10, share: 0.55, perSecondShare: 0.01, DeadAfter);

    private static List<(string Node, TimeSpan Silent)> Silent(int count, TimeSpan silent) =>
        [.. Enumerable.Range(0, count).Select(i => ($"n{i:D5}", silent + TimeSpan.FromMilliseconds(i)))];

    [Test]
    public void One_silent_node_of_twenty_is_declared_at_once()
    {
        var step = Guard().Admit(Silent(1, DeadAfter), notDead: 20, Start);

        Assert.That(step.Declare, Is.EqualTo(new[] { "n00000" }));
        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.None));
    }

    [Test]
    public void Fewer_than_the_minimum_are_declared_at_once_even_when_they_are_all_the_nodes()
    {
        var step = Guard().Admit(Silent(9, DeadAfter), notDead: 9, Start);

        Assert.That(step.Declare, Has.Count.EqualTo(9));
        Assert.That(step.HeldBack, Is.Zero);
    }

    [Test]
    public void Half_the_nodes_silent_is_not_a_mass_silence()
    {
        var step = Guard().Admit(Silent(50, DeadAfter), notDead: 100, Start);

        Assert.That(step.Declare, Has.Count.EqualTo(50));
    }

    [Test]
    public void Most_of_the_nodes_silent_at_once_are_declared_one_second_worth_at_a_time_longest_silent_first()
    {
        var guard = Guard();
        var judged = Silent(9_000, DeadAfter);

        var step = guard.Admit(judged, notDead: 10_000, Start);

        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.Began));
        Assert.That(step.PerSecond, Is.EqualTo(100));
        Assert.That(step.Declare, Has.Count.EqualTo(100));
        Assert.That(step.HeldBack, Is.EqualTo(8_900));
        Assert.That(step.Declare, Is.EqualTo(judged.OrderByDescending(j => j.Silent).Take(100).Select(j => j.Node)));
    }

    [Test]
    public void Paced_verdicts_never_exceed_the_rate_and_all_come_in_the_end()
    {
        var guard = Guard();
        var silent = Silent(15, DeadAfter).ToDictionary(j => j.Node, j => j.Silent);
        var declaredAt = new List<TimeSpan>();
        var now = Start;

        while (silent.Count > 0 && now - Start < TimeSpan.FromMinutes(5))
        {
            var step = guard.Admit([.. silent.Select(kv => (kv.Key, kv.Value))], notDead: 5 + silent.Count, now);
            foreach (var node in step.Declare)
            {
                silent.Remove(node);
                declaredAt.Add(now - Start);
            }

            foreach (var node in silent.Keys.ToList())
            {
                silent[node] += Tick;
            }

            now += Tick;
        }

        Assert.That(silent, Is.Empty, "every silent node declared dead in the end");
        Assert.That(declaredAt, Has.Count.EqualTo(15));
        for (var i = 0; i < declaredAt.Count; i++)
        {
            // At most one a second (1% of 20 nodes, at least one), the first at once.
            Assert.That(declaredAt[i], Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(i)), $"verdict {i + 1}");
        }

        Assert.That(guard.Active, Is.True, "still paced when the last one was declared");
        Assert.That(guard.Admit(new List<(string, TimeSpan)>(), notDead: 5, now).Change, Is.EqualTo(MassSilenceChange.Ended));
    }

    [Test]
    public void Nodes_heard_from_again_are_no_longer_held_and_the_silence_ends()
    {
        var guard = Guard();
        guard.Admit(Silent(15, DeadAfter), notDead: 20, Start);

        var step = guard.Admit(new List<(string, TimeSpan)>(), notDead: 19, Start + Tick);

        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.Ended));
        Assert.That(step.DeclaredInEpisode, Is.EqualTo(1));
        Assert.That(guard.Active, Is.False);
    }

    [Test]
    public void Nodes_declared_dead_within_dead_after_count_so_a_rolling_silence_is_paced_too()
    {
        var guard = Guard();

        // 40 of 100 go silent and are declared at once (not a majority) ...
        Assert.That(guard.Admit(Silent(40, DeadAfter), notDead: 100, Start).Declare, Has.Count.EqualTo(40));

        // ... and 20 more two seconds later: 60 of 100 within dead-after.
        var step = guard.Admit(Silent(20, DeadAfter), notDead: 60, Start + TimeSpan.FromSeconds(2));

        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.Began));
        Assert.That(step.Declare, Has.Count.EqualTo(1));

        // The first verdicts are older than dead-after now and the rest a minority, but the backlog is still paced.
        var later = guard.Admit(Silent(19, DeadAfter), notDead: 59, Start + TimeSpan.FromSeconds(13));
        Assert.That(later.Declare, Has.Count.EqualTo(1));
        Assert.That(later.Change, Is.EqualTo(MassSilenceChange.None));
    }

    [Test]
    public void A_mass_silence_lasts_while_nodes_are_held_back_even_once_most_are_heard_from_again()
    {
        var guard = Guard();
        guard.Admit(Silent(80, DeadAfter), notDead: 100, Start);

        // Sixty of the 79 held back are heard from again: 19 (+1 declared) of 100 is no majority.
        var step = guard.Admit(Silent(19, DeadAfter), notDead: 99, Start + Tick);

        Assert.That(step.Declare, Has.Count.LessThanOrEqualTo(1), "still paced");
        Assert.That(guard.Active, Is.True);
    }

    [Test]
    public void A_backlog_that_falls_below_the_minimum_is_declared_at_once_and_ends_the_silence()
    {
        var guard = Guard();
        guard.Admit(Silent(80, DeadAfter), notDead: 100, Start);

        var step = guard.Admit(Silent(5, DeadAfter + TimeSpan.FromSeconds(11)), notDead: 85, Start + TimeSpan.FromSeconds(11));

        Assert.That(step.Declare, Has.Count.EqualTo(5));
        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.Ended));
    }

    [Test]
    public void Nodes_whose_streams_broke_count_so_the_first_past_dead_after_are_paced_already()
    {
        // Every stream broke at once; 30 of 100 nodes were already late and pass dead-after first.
        var step = Guard().Admit(Silent(30, DeadAfter), notDead: 100, Start, unready: 100);

        Assert.That(step.Change, Is.EqualTo(MassSilenceChange.Began));
        Assert.That(step.Declare, Has.Count.EqualTo(1));
    }

    [Test]
    public void A_minority_not_ready_is_declared_at_once()
    {
        var step = Guard().Admit(Silent(30, DeadAfter), notDead: 100, Start, unready: 40);

        Assert.That(step.Declare, Has.Count.EqualTo(30));
    }

    [Test]
    public void A_share_of_one_turns_the_guard_off()
    {
        var guard = new MassSilenceGuard(minNodes: 10, share: 1.0, perSecondShare: 0.01, DeadAfter);

        Assert.That(guard.Admit(Silent(100, DeadAfter), notDead: 100, Start).Declare, Has.Count.EqualTo(100));
    }
}
