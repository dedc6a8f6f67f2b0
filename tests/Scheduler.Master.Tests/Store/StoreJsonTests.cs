using System.Text.Json;
using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>
/// The generated serializer of the job status row writes exactly the text the reflection serializer with
/// the web defaults wrote (what every store holds from earlier versions), and reads that text back to the
/// same row: switching did not change a stored byte.
/// </summary>
[TestFixture]
public sealed class StoreJsonTests
{
    private static readonly JsonSerializerOptions Reflection = new(JsonSerializerDefaults.Web);
    private static readonly DateTimeOffset At = new(2026, 11, 30, 7, 0, 0, TimeSpan.FromHours(1));

    public static IEnumerable<TestCaseData> Rows()
    {
        var shares = new[] { new GpuShare(0, 500), new GpuShare(3, 1000) };
        yield return new TestCaseData(new JobStatusRow(
            JobState.Running, 3, "n1", shares, ["GPU-a", "GPU-b"], 7, "requeued: node lost", 2, true, true,
            At, At.AddSeconds(5), At.AddSeconds(1), At.AddSeconds(9),
            LostAttempt: 2,
            AttemptNodes: ["n0", "n1"],
            Migration: new MigrationRecord("m-1", "n1", "n2", "tok", shares, ["GPU-c"], At),
            LastMigration: new MigrationOutcome("m-0", "n0", "n1", MigrationOutcome.Moved, 3, 123_456, 42, At, At.AddSeconds(2), null, 2, ""),
            Checkpoint: new Scheduler.Master.Store.StoredCheckpoint("c-1", ["n1", "n2"], 3, 4096, At),
            Checkpointing: new CheckpointOperation("c-2", "suspend", "n1", 3, ["n1", "n2"], true, At),
            RestoreFrom: "c-1",
            Replicas: [new ReplicaRecord(0, "n1", shares, ["GPU-a"], "10.0.0.1:9000") { Phase = ReplicaPhase.Running, ExitCode = 0, Stopped = true }],
            LostReplicas: [new ReplicaRecord(1, "n3", [], [], "")],
            LostAttemptUncounted: true)).SetName("Every_field_set");
        yield return new TestCaseData(new JobStatusRow(
            JobState.Pending, 0, null, [], [], null, "", 0, false, false, At, At, null, null)).SetName("Only_the_required_fields");
    }

    [TestCaseSource(nameof(Rows))]
    public void The_generated_serializer_writes_and_reads_what_the_reflection_one_did(object given)
    {
        var row = (JobStatusRow)given;
        var before = JsonSerializer.Serialize(row, Reflection);

        Assert.That(JsonSerializer.Serialize(row, StoreJson.Default.JobStatusRow), Is.EqualTo(before));
        var read = JsonSerializer.Deserialize(before, StoreJson.Default.JobStatusRow)!;
        Assert.That(JsonSerializer.Serialize(read, Reflection), Is.EqualTo(before), "read back to the same row");
    }
}
