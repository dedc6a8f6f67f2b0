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
}
