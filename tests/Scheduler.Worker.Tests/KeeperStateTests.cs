using Scheduler.Worker.Keeper;

namespace Scheduler.Worker.Tests;

/// <summary>The keeper's rules, without processes: who is killed when a lease runs out or the worker is gone.</summary>
[TestFixture]
public sealed class KeeperStateTests
{
    [Test]
    public void A_group_past_its_lease_hands_out_its_agents_once_and_no_others()
    {
        var state = new KeeperState();
        state.Apply(new KeeperMessage(KeeperMessage.Lease, Group: "n1", Deadline: 100));
        state.Apply(new KeeperMessage(KeeperMessage.Lease, Group: "n2", Deadline: 500));
        state.Apply(Track("n1", "a", 11));
        state.Apply(Track("n1", "b", 12));
        state.Apply(Track("n2", "c", 13));

        Assert.That(state.TakeExpired(99), Is.Empty);
        Assert.That(state.TakeExpired(100).Select(a => a.Tree.Pid), Is.EquivalentTo(new[] { 11, 12 }));
        Assert.That(state.TakeExpired(200), Is.Empty, "already handed out");
        Assert.That(state.Count, Is.EqualTo(1));
    }

    [Test]
    public void A_renewed_lease_and_an_untracked_agent_are_not_killed()
    {
        var state = new KeeperState();
        state.Apply(new KeeperMessage(KeeperMessage.Lease, Group: "n1", Deadline: 100));
        state.Apply(Track("n1", "a", 11));
        state.Apply(Track("n1", "b", 12));
        state.Apply(new KeeperMessage(KeeperMessage.Untrack, "n1", "b"));
        state.Apply(new KeeperMessage(KeeperMessage.Lease, Group: "n1", Deadline: 300));

        Assert.That(state.TakeExpired(200), Is.Empty);
        Assert.That(state.TakeExpired(300).Select(a => a.Id), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void A_group_without_a_lease_never_expires_but_dies_with_the_worker()
    {
        var state = new KeeperState();
        state.Apply(Track("n1", "a", 11));

        Assert.That(state.TakeExpired(long.MaxValue), Is.Empty);
        Assert.That(state.TakeAll().Select(a => a.Id), Is.EqualTo(new[] { "a" }));
        Assert.That(state.Count, Is.Zero);
    }

    [Test]
    public void Messages_round_trip_as_json_lines_and_garbage_is_ignored()
    {
        var message = Track("n1", "a", 11) with { Cgroup = "/sys/fs/cgroup/x", Marker = "/tmp/m" };

        Assert.That(KeeperMessage.Parse(message.ToLine()), Is.EqualTo(message));
        Assert.That(KeeperMessage.Parse("{not json"), Is.Null);
    }

    private static KeeperMessage Track(string group, string id, int pid) =>
        new(KeeperMessage.Track, group, id, Pid: pid, Token: $"t-{id}");
}
