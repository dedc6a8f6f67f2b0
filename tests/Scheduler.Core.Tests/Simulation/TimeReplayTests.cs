using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

public sealed class TimeReplayTests
{
    [Test]
    public void A_task_waits_for_a_departure_and_reports_its_delay()
    {
        var nodes = new[] { new TraceNode("a", 16_000, 65_536, 1, "T4") };
        var workload = new Workload(
        [
            new TraceTask("first", 1000, 1024, 1, 1000, [], CreationTime: 0, DeletionTime: 100, ScheduledTime: 0),
            new TraceTask("second", 1000, 1024, 1, 1000, [], CreationTime: 10, DeletionTime: 20, ScheduledTime: null),
            new TraceTask("cpu", 1000, 1024, 0, 0, [], CreationTime: 30, DeletionTime: 40, ScheduledTime: 30),
        ]);

        var result = TimeReplay.Run(nodes, workload, "best-fit", seed: 42);

        // "second" waits from 10 until "first" leaves at 100; the others start at once.
        Assert.That(result, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(result!.Value.Started, Is.EqualTo(3));
            Assert.That(result.Value.Delayed, Is.EqualTo(1));
            Assert.That(result.Value.NeverStarted, Is.Zero);
            Assert.That(result.Value.MeanDelaySeconds, Is.EqualTo(30).Within(1e-9));
            Assert.That(result.Value.P95DelaySeconds, Is.EqualTo(90));
        });
    }

    [Test]
    public void A_trace_without_times_has_no_time_replay()
    {
        var nodes = new[] { new TraceNode("a", 16_000, 65_536, 1, "T4") };
        var workload = new Workload([new TraceTask("t", 1000, 1024, 1, 1000, [], null, null, null)]);

        Assert.That(TimeReplay.Run(nodes, workload, "best-fit", seed: 42), Is.Null);
    }
}
