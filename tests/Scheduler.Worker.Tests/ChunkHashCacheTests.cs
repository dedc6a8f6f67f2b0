using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>The sender's hash cache: what it may skip, and what it must read again.</summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class ChunkHashCacheTests
{
    private const int Chunk = TransferLimits.MinChunkBytes;

    private string _dir = null!;
    private string _file = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-hash-cache-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _file = Path.Combine(_dir, "state.bin");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Settled_file_with_the_same_size_and_time_is_not_read_again(CancellationToken ct)
    {
        var settled = DateTime.UtcNow.AddHours(-1);
        Write(1, settled);
        var cache = new ChunkHashCache();
        var first = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        // Different content behind the same size and time: only a cache hit can still give the old hashes.
        Write(2, settled);
        var second = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        Assert.That(second.Entries[0].Chunks, Is.EqualTo(first.Entries[0].Chunks));
    }

    [Test]
    public async Task File_with_a_new_time_is_hashed_again(CancellationToken ct)
    {
        Write(1, DateTime.UtcNow.AddHours(-1));
        var cache = new ChunkHashCache();
        var first = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        Write(2, DateTime.UtcNow.AddMinutes(-30));
        var second = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        Assert.That(second.Entries[0].Chunks, Is.Not.EqualTo(first.Entries[0].Chunks));
    }

    [Test]
    public async Task File_written_just_before_hashing_is_not_remembered(CancellationToken ct)
    {
        var now = DateTime.UtcNow;
        Write(1, now);
        var cache = new ChunkHashCache();
        var first = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        // A write in the same tick of a coarse filesystem clock keeps the time; it must still be seen.
        Write(2, now);
        var second = await ManifestBuilder.BuildAsync(_dir, Chunk, 2, ct, cache);

        Assert.That(second.Entries[0].Chunks, Is.Not.EqualTo(first.Entries[0].Chunks));
    }

    private void Write(byte fill, DateTime modified)
    {
        File.WriteAllBytes(_file, Enumerable.Repeat(fill, (3 * Chunk) + 5).ToArray());
        File.SetLastWriteTimeUtc(_file, modified);
    }
}
