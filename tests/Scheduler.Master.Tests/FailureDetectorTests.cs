using Scheduler.Core.Cluster;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

/// <summary>Silence thresholds: suspect after missed heartbeats, dead after dead-after, never twice dead.</summary>
[TestFixture]
public sealed class FailureDetectorTests
{
    private static readonly FailureDetector Detector = FailureDetector.From(new MasterOptions { HeartbeatIntervalMs = 1000, SuspectAfterMissed = 3, DeadAfterMs = 10_000 });

    [TestCase(NodeHealth.Ready, 2_999, "Unchanged")]
    [TestCase(NodeHealth.Ready, 3_001, "Suspect")]
    [TestCase(NodeHealth.Suspect, 9_999, "Unchanged")]
    [TestCase(NodeHealth.Ready, 10_001, "Dead")]
    [TestCase(NodeHealth.Suspect, 10_001, "Dead")]
    [TestCase(NodeHealth.Leaving, 5_000, "Unchanged")]
    [TestCase(NodeHealth.Leaving, 10_001, "Dead")]
    [TestCase(NodeHealth.Dead, 60_000, "Unchanged")]
    public void Judges_a_node_by_its_health_and_silence(NodeHealth health, int silentMs, string expected) =>
        Assert.That(Detector.Judge(health, TimeSpan.FromMilliseconds(silentMs)).ToString(), Is.EqualTo(expected));
}
