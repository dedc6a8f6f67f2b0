using Scheduler.Master.Telemetry;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class PendingReasonsTests
{
    [TestCase("waiting for the next scheduling pass", "not_scheduled_yet")]
    [TestCase("no nodes registered", "no_nodes")]
    [TestCase("no node fits (2 nodes: too few free GPUs; 1 node: cordoned)", "no_fit")]
    [TestCase("fits no node's total capacity, so it waits for a larger node to join (1 node: too few free GPUs)", "too_large")]
    [TestCase("no node fits (1 node: too few free GPUs); reserved w1 from 2026-01-01T00:00:00.0000000+00:00", "reserved")]
    [TestCase("tenant 'a' GPU quota exceeded: holds 1000 + asks 1000 > quota 1000 milli-GPU", "quota")]
    [TestCase("preempting 2 lower-priority job(s) on w1", "preempting")]
    [TestCase("something new", "other")]
    public void Files_a_reason_under_a_fixed_label(string reason, string category)
    {
        Assert.That(PendingReasons.Category(reason), Is.EqualTo(category));
        Assert.That(PendingReasons.All, Does.Contain(category));
    }
}
