using System.Text;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using StoredCheckpoint = Scheduler.Master.Store.StoredCheckpoint;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class SnapshotTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void A_snapshot_reads_back_every_field_of_every_record()
    {
        var job = new JobRecord
        {
            Id = "j-000007",
            Sequence = 7,
            RequestId = "r7",
            Spec = new JobSpec { Command = "dotnet", Checkpointable = true, CheckpointIntervalS = 30, Resources = new Resources { CpuMillis = 500, Gpus = 1 } },
            State = JobState.Suspended,
            Attempt = 2,
            NodeId = "n1",
            AttemptNodes = ["n0", "n1"],
            Requeues = 1,
            Checkpoint = new StoredCheckpoint("c-j-000007-2-abc", ["n1", "n2"], 2, 4096, Now),
            Message = "suspended",
            CreatedAt = Now,
            UpdatedAt = Now,
            StartedAt = Now,
        };
        var node = new NodeRecord("n1", "host-1", 8000, 32768, [], new Dictionary<string, string> { ["zone"] = "a" }, Cordoned: true, Draining: false, "1.0", "127.0.0.1:7100")
        {
            Capabilities = ["checkpoint.app-level"],
        };
        using var stream = new MemoryStream();
        new Snapshot([job], [node], 12, Now, "sqlite").WriteTo(stream);
        stream.Position = 0;

        var read = Snapshot.ReadFrom(stream);

        Assert.That(read.Epoch, Is.EqualTo(12));
        var back = read.Jobs.Single();
        Assert.That((back.Id, back.Sequence, back.RequestId, back.Spec), Is.EqualTo((job.Id, job.Sequence, job.RequestId, job.Spec)));
        Assert.That(Json(back), Is.EqualTo(Json(job)), "the status, as the stores write it");
        Assert.That((back.Checkpoint!.Id, back.Checkpoint.Nodes, back.Checkpoint.Bytes), Is.EqualTo((job.Checkpoint.Id, job.Checkpoint.Nodes, 4096L)));
        var nodeBack = read.Nodes.Single();
        Assert.That((nodeBack.Id, nodeBack.Cordoned, nodeBack.TransferAddress, nodeBack.Labels["zone"], nodeBack.Capabilities.Single()), Is.EqualTo(("n1", true, "127.0.0.1:7100", "a", "checkpoint.app-level")));
    }

    private static string Json(JobRecord job) => System.Text.Json.JsonSerializer.Serialize(JobStatusRow.From(job));

    [TestCase("{}", "snapshot: format must be 'scheduler-snapshot/1'")]
    [TestCase("not json", "snapshot: not a snapshot document")]
    [TestCase("""{"format":"scheduler-snapshot/1","jobs":[{"id":"j-1"}]}""", "snapshot: jobs[0]: id, requestId, spec and status are required")]
    [TestCase("""{"format":"scheduler-snapshot/1","nodes":[{"id":"n1"},{"id":"n1"}]}""", "snapshot: nodes[1]: a node needs an id, not repeated")]
    public void A_document_that_is_not_a_valid_snapshot_is_refused_naming_what(string json, string error)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json));

        var refused = Assert.Throws<FormatException>(() => Snapshot.ReadFrom(stream));

        Assert.That(refused!.Message, Does.StartWith(error));
    }
}
