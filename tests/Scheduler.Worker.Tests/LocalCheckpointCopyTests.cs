using Scheduler.Worker.Migration;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class LocalCheckpointCopyTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-local-copy-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_dir, "checkpoint", "chunks"));
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void A_final_checkpoint_is_kept_whole_under_its_id_without_copying_its_bytes()
    {
        File.WriteAllText(Path.Combine(_dir, "checkpoint", "COMPLETE"), "");
        File.WriteAllBytes(Path.Combine(_dir, "checkpoint", "chunks", "chunk-00000"), new byte[4096]);
        var restore = Path.Combine(_dir, "restore");

        File.WriteAllText(Path.Combine(_dir, "checkpoint", ".request"), "1 final");
        var bytes = LocalCheckpointCopy.Keep(Path.Combine(_dir, "checkpoint"), ["COMPLETE", Path.Combine("chunks", "chunk-00000"), ".request"], restore, "c-1");

        Assert.That(bytes, Is.EqualTo(4096));
        var kept = Path.Combine(restore, "c-1", "chunks", "chunk-00000");
        Assert.That(File.ReadAllBytes(kept), Has.Length.EqualTo(4096));
        Assert.That(File.Exists(Path.Combine(restore, "c-1", "COMPLETE")), Is.True);
        Assert.That(File.Exists(Path.Combine(restore, "c-1", ".request")), Is.False, "protocol files stay behind, as in a transfer");
        Assert.That(Directory.GetDirectories(restore), Is.EqualTo(new[] { Path.Combine(restore, "c-1") }), "no partial folder left");

        // Deleting the agent's checkpoint (its scratch folder) leaves the kept one intact.
        Directory.Delete(Path.Combine(_dir, "checkpoint"), recursive: true);
        Assert.That(File.ReadAllBytes(kept), Has.Length.EqualTo(4096));
    }

    [Test]
    public void A_checkpoint_holding_a_link_is_refused_and_nothing_is_left_behind()
    {
        File.WriteAllText(Path.Combine(_dir, "secret"), "outside");
        File.CreateSymbolicLink(Path.Combine(_dir, "checkpoint", "chunks", "evil"), Path.Combine(_dir, "secret"));
        var restore = Path.Combine(_dir, "restore");

        var error = Assert.Throws<IOException>(() => LocalCheckpointCopy.Keep(Path.Combine(_dir, "checkpoint"), [Path.Combine("chunks", "evil")], restore, "c-2"));

        Assert.That(error!.Message, Does.Contain("is not a regular file"));
        Assert.That(Directory.GetFileSystemEntries(restore), Is.Empty);
    }

    [Test]
    public void An_id_already_stored_is_refused()
    {
        var restore = Path.Combine(_dir, "restore");
        Directory.CreateDirectory(Path.Combine(restore, "c-3"));

        Assert.Throws<IOException>(() => LocalCheckpointCopy.Keep(Path.Combine(_dir, "checkpoint"), [], restore, "c-3"));
        Assert.Throws<ArgumentException>(() => LocalCheckpointCopy.Keep(Path.Combine(_dir, "checkpoint"), [], restore, "../escape"));
    }
}
