using Scheduler.Contracts.V1;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class WorkerSessionTests
{
    [Test]
    public void A_worker_that_stops_reading_is_cut_off_once_its_backlog_is_full()
    {
        using var session = new WorkerSession("node-1", "peer");

        var sent = 0;
        while (session.Send(new MasterCommand()) && sent < 100_000)
        {
            sent++;
        }

        Assert.That(sent, Is.LessThan(100_000), "the backlog is bounded");
        Assert.That(session.Closed.IsCancellationRequested, Is.True);
    }

    [Test]
    public void A_command_for_a_session_whose_stream_broke_is_dropped_not_reported_as_overflow()
    {
        using var session = new WorkerSession("node-1", "peer");
        session.Close();

        var sent = session.Send(new MasterCommand());

        Assert.That(sent, Is.True, "no overflow to report: the disconnection is already on its way");
        Assert.That(session.Commands.TryRead(out _), Is.False, "nothing is queued for a closed stream");
    }
    [Test]
    public void A_heartbeat_is_acknowledged_as_it_arrives_and_a_closed_session_acknowledges_nothing()
    {
        using var session = new WorkerSession("node-1", "peer");
        var at = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

        Assert.That(session.LastHeard, Is.Null);
        Assert.That(session.Heard(at, Ack(7)), Is.True);
        Assert.That(session.Commands.TryRead(out var ack) ? ack.HeartbeatAck.Sequence : 0UL, Is.EqualTo(7UL));
        Assert.That(session.LastHeard, Is.EqualTo(at));

        session.Close();

        Assert.That(session.Heard(at.AddSeconds(1), Ack(8)), Is.False);
        Assert.That(session.Commands.TryRead(out _), Is.False, "no acknowledgement after the close");
        Assert.That(session.LastHeard, Is.EqualTo(at), "nor a newer time the loop could mistake for life");
    }

    [Test]
    public void A_session_heard_from_after_the_silence_was_judged_is_not_closed_as_silent()
    {
        using var session = new WorkerSession("node-1", "peer");
        var judged = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
        session.Heard(judged);
        session.Heard(judged.AddSeconds(2), Ack(1));

        Assert.That(session.CloseIfNotHeardAfter(judged), Is.False, "heard (and acknowledged) since: alive");
        Assert.That(session.Closed.IsCancellationRequested, Is.False);

        Assert.That(session.CloseIfNotHeardAfter(judged.AddSeconds(2)), Is.True);
        Assert.That(session.Closed.IsCancellationRequested, Is.True);
    }

    private static MasterCommand Ack(ulong sequence) => new() { HeartbeatAck = new HeartbeatAck { Sequence = sequence } };
}
