using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class MasterAddressBookTests
{
    private static readonly Uri A = new("http://127.0.0.1:7001");
    private static readonly Uri B = new("http://127.0.0.1:7002");
    private static readonly Uri C = new("http://127.0.0.1:7003");

    [Test]
    public void Rotates_on_failure_and_sticks_to_the_master_that_accepted()
    {
        var book = new MasterAddressBook([A, B, C]);
        Assert.That(book.Next(), Is.EqualTo(A));
        book.OnFailed(A, refused: false);
        Assert.That(book.Next(), Is.EqualTo(B));
        book.OnRegistered(B);
        Assert.That(book.Next(), Is.EqualTo(B), "a reconnect after a registered session starts where it was");
        book.OnFailed(B, refused: false);
        book.OnFailed(C, refused: false);
        Assert.That(book.Next(), Is.EqualTo(A), "wraps around");
    }

    [Test]
    public void A_hint_naming_an_unknown_leader_is_learnt_and_followed_at_once()
    {
        var book = new MasterAddressBook([A]);
        Assert.That(book.OnHint(A, C), Is.True);
        Assert.That(book.Next(), Is.EqualTo(C));
        Assert.That(book.RetryAtOnce, Is.True);
        Assert.That(book.Known, Is.EqualTo(new[] { A, C }));

        book.OnRegistered(C);
        Assert.That(book.RetryAtOnce, Is.False);
        Assert.That(book.Next(), Is.EqualTo(C));
    }

    [Test]
    public void A_hint_naming_a_listed_master_goes_there_without_adding_it()
    {
        var book = new MasterAddressBook([A, B, C]);
        Assert.That(book.OnHint(A, new Uri("HTTP://127.0.0.1:7003/")), Is.True, "same scheme, host and port");
        Assert.That(book.Next(), Is.EqualTo(C));
        Assert.That(book.Known, Has.Count.EqualTo(3));
    }

    [Test]
    public void A_hint_naming_the_master_that_refused_is_a_plain_failure()
    {
        var book = new MasterAddressBook([A, B]);
        Assert.That(book.OnHint(A, A), Is.False);
        Assert.That(book.RetryAtOnce, Is.False, "the normal backoff applies");
        Assert.That(book.Next(), Is.EqualTo(B));
    }

    [Test]
    public void Standbys_pointing_at_each_other_are_followed_at_once_only_a_few_times()
    {
        var book = new MasterAddressBook([A, B]);
        var atOnce = new List<bool>();
        for (var i = 0; i < 6; i++)
        {
            var from = book.Next();
            Assert.That(book.OnHint(from, from == A ? B : A), Is.True);
            atOnce.Add(book.RetryAtOnce);
        }

        Assert.That(atOnce.Count(x => x), Is.EqualTo(MasterAddressBook.MaxHopsAtOnce));
        Assert.That(atOnce.Skip(MasterAddressBook.MaxHopsAtOnce), Is.All.False);

        book.OnFailed(book.Next(), refused: false);
        Assert.That(book.OnHint(book.Next(), C), Is.True);
        Assert.That(book.RetryAtOnce, Is.True, "a plain failure in between starts the count over");
    }

    [Test]
    public void Learnt_addresses_are_bounded_and_the_oldest_goes_first()
    {
        var book = new MasterAddressBook([A]);
        var leaders = Enumerable.Range(0, 10).Select(i => new Uri($"http://10.0.0.{i}:7070")).ToList();
        foreach (var leader in leaders)
        {
            book.OnHint(A, leader);
            book.OnFailed(leader, refused: false);
        }

        Assert.That(book.Known, Is.EqualTo(new[] { A }.Concat(leaders.TakeLast(MasterAddressBook.MaxLearned))));
    }

    [Test]
    public void Refused_at_every_listed_address_proves_no_master_runs()
    {
        var book = new MasterAddressBook([A, B]);
        Assert.That(book.OnFailed(A, refused: true), Is.False);
        Assert.That(book.OnFailed(B, refused: true), Is.True);
        Assert.That(book.OnFailed(A, refused: true), Is.True, "still none since the last contact");
    }

    [Test]
    public void A_learnt_leader_counts_among_every_address()
    {
        var book = new MasterAddressBook([A]);
        book.OnHint(A, C);
        Assert.That(book.OnFailed(A, refused: true), Is.False, "the learnt leader has not refused");
        Assert.That(book.OnFailed(C, refused: true), Is.True);
    }

    [Test]
    public void A_standby_answer_clears_its_address_from_the_refusing_ones()
    {
        var book = new MasterAddressBook([A, B]);
        book.OnFailed(A, refused: true);
        book.OnFailed(B, refused: true);

        // B came up as a standby that knows no leader yet: a master may be leading somewhere soon.
        book.OnFailed(B, refused: false);
        Assert.That(book.OnFailed(A, refused: true), Is.False);

        // A standby that names a leader is running too.
        Assert.That(book.OnFailed(B, refused: true), Is.True);
        book.OnHint(B, C);
        Assert.That(book.OnFailed(C, refused: true), Is.False);
        Assert.That(book.OnFailed(A, refused: true), Is.False);
    }

    [Test]
    public void Refusals_before_a_contact_do_not_count_after_it()
    {
        var book = new MasterAddressBook([A, B]);
        book.OnFailed(A, refused: true);
        book.OnContact();
        Assert.That(book.OnFailed(B, refused: true), Is.False);

        book.OnFailed(A, refused: true);
        book.OnRegistered(A);
        Assert.That(book.OnFailed(B, refused: true), Is.False);
    }

    [Test]
    public void Backoff_grows_per_round_through_every_address_so_a_dead_leader_does_not_delay_finding_the_new_one()
    {
        var book = new MasterAddressBook([A, B, C]);
        book.OnRegistered(A);

        // The leader at A dies: B and C are tried after a short pause each, not after a growing backoff.
        book.OnFailed(A, refused: true);
        Assert.That((book.NextInRound, book.FailedRounds), Is.EqualTo((true, 0)));
        book.OnFailed(B, refused: false);
        Assert.That((book.NextInRound, book.FailedRounds), Is.EqualTo((true, 0)));
        book.OnFailed(C, refused: false);
        Assert.That((book.NextInRound, book.FailedRounds), Is.EqualTo((false, 1)), "a whole round failed: back off");
        book.OnFailed(A, refused: true);
        book.OnFailed(B, refused: false);
        book.OnFailed(C, refused: false);
        Assert.That(book.FailedRounds, Is.EqualTo(2));

        book.OnRegistered(B);
        Assert.That((book.NextInRound, book.FailedRounds), Is.EqualTo((false, 0)), "registration starts over");
    }

    [Test]
    public void With_one_address_every_failure_is_a_round()
    {
        var book = new MasterAddressBook([A]);
        book.OnFailed(A, refused: true);
        book.OnFailed(A, refused: true);
        Assert.That((book.NextInRound, book.FailedRounds), Is.EqualTo((false, 2)));
    }

    [Test]
    public void A_hint_naming_a_leader_that_just_refused_is_not_followed()
    {
        var book = new MasterAddressBook([A, B, C]);
        book.OnRegistered(A);
        book.OnFailed(A, refused: true);

        // B has not seen A's lease lapse yet and still names it.
        Assert.That(book.OnHint(B, A), Is.False);
        Assert.That(book.Next(), Is.EqualTo(C), "on to the next standby, which may be the one taking over");
    }

    [Test]
    public void A_round_in_which_a_standby_answered_is_an_election_not_an_empty_cluster()
    {
        var book = new MasterAddressBook([A, B]);
        book.OnFailed(A, refused: true);
        book.OnFailed(B, refused: false, answered: true);
        Assert.That(book.LastRoundAnswered, Is.True, "B runs: poll briskly for the new leader");

        book.OnFailed(A, refused: true);
        book.OnFailed(B, refused: true);
        Assert.That(book.LastRoundAnswered, Is.False, "nothing answered: back off");
    }
}
