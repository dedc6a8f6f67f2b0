using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>Checkpoint transfer between a sender and a real Kestrel target on loopback.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class CheckpointTransferTests
{
    private const string Migration = "mig-1";
    private const string Token = "secret-token";
    private const int Chunk = TransferLimits.MinChunkBytes;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private string _dir = null!;
    private string _source = null!;
    private string _targetData = null!;
    private TransferServer _target = null!;
    private GrpcChannel _channel = null!;

    [SetUp]
    public async Task SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-transfer-tests", Guid.NewGuid().ToString("N"));
        _source = Path.Combine(_dir, "source");
        _targetData = Path.Combine(_dir, "sandbox", "target");
        Directory.CreateDirectory(_source);
        var limits = new TransferLimits { MaxEntries = 64, MaxEntryBytes = 1 << 20 };
        _target = await TransferServer.StartAsync(_targetData, TimeProvider.System, CancellationToken.None, limits);
        _target.Authorizations.Allow(Migration, Token, 4 << 20, DateTimeOffset.UtcNow.AddMinutes(10));
        _channel = GrpcChannel.ForAddress(_target.Url);
    }

    [TearDown]
    public async Task TearDown()
    {
        _channel.Dispose();
        await _target.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Round_trip_restores_files_and_nested_directories(CancellationToken ct)
    {
        WriteSampleTree();

        var stats = await Sender().SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(stats.RestoredPath, Is.EqualTo(Path.Combine(_target.Migrations.RestoreRoot, "restored")));
        TransferTrees.AssertSame(_source, stats.RestoredPath!);
        Assert.That(File.GetUnixFileMode(Path.Combine(stats.RestoredPath!, "a", "private.key")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(stats.ChunksSent, Is.EqualTo(stats.ChunksTotal));
        Assert.That(Directory.Exists(Path.Combine(_target.Migrations.StoreRoot, Migration)), Is.False, "the chunk store is dropped after commit");
    }

    [Test]
    public async Task Second_round_sends_only_the_changed_chunks(CancellationToken ct)
    {
        WriteSampleTree();
        var first = await Sender().SendAsync(_source, Migration, Token, destination: null, ct);
        Assert.That(first.ChunksSent, Is.EqualTo(first.ChunksTotal));

        // One byte in the third chunk of a ten-chunk file.
        var big = Path.Combine(_source, "a", "b", "big.bin");
        var content = File.ReadAllBytes(big);
        content[(2 * Chunk) + 7] ^= 0x5A;
        File.WriteAllBytes(big, content);

        var second = await Sender().SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(second.ChunksSent, Is.EqualTo(1));
        Assert.That(second.BytesSent, Is.EqualTo(Chunk));
        TransferTrees.AssertSame(_source, second.RestoredPath!);
    }

    [Test]
    public async Task Later_round_removes_adds_and_resizes_files_of_the_staged_tree(CancellationToken ct)
    {
        WriteSampleTree();
        await Sender().SendAsync(_source, Migration, Token, destination: null, ct);

        // A directory becomes a file, a file goes, one shrinks to the middle of a chunk, one grows, one is new.
        Directory.Delete(Path.Combine(_source, "empty-dir"));
        File.WriteAllBytes(Path.Combine(_source, "empty-dir"), [1, 2, 3]);
        File.Delete(Path.Combine(_source, "a", "b", "copy.bin"));
        var big = Path.Combine(_source, "a", "b", "big.bin");
        File.WriteAllBytes(big, File.ReadAllBytes(big)[..((4 * Chunk) + 10)]);
        File.AppendAllText(Path.Combine(_source, "meta.json"), "more");
        Directory.CreateDirectory(Path.Combine(_source, "new", "deeper"));
        File.WriteAllBytes(Path.Combine(_source, "new", "deeper", "n.bin"), new byte[Chunk + 1]);

        var second = await Sender().SendAsync(_source, Migration, Token, "restored", ct);

        TransferTrees.AssertSame(_source, second.RestoredPath!);
        Assert.That(second.ChunksSent, Is.LessThan(second.ChunksTotal), "the unchanged chunks in front of big.bin's new end stayed staged");
    }

    [Test]
    public async Task Commit_onto_an_existing_destination_leaves_it_untouched(CancellationToken ct)
    {
        WriteSampleTree();
        var taken = Path.Combine(_target.Migrations.RestoreRoot, "restored");
        Directory.CreateDirectory(taken);
        File.WriteAllText(Path.Combine(taken, "mine"), "keep");

        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, Migration, Token, "restored", ct));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Assert.That(Directory.EnumerateFileSystemEntries(_target.Migrations.RestoreRoot, "*", SearchOption.AllDirectories), Is.EquivalentTo(new[] { taken, Path.Combine(taken, "mine") }));
        Assert.That(_target.Migrations.Find(Migration)!.Missing(), Is.Empty, "the staged tree is kept for a commit elsewhere");
    }

    [Test]
    public async Task Corrupted_chunk_is_rejected_and_resent(CancellationToken ct)
    {
        WriteSampleTree();
        var tamperer = new ChunkTamperer { CorruptAt = 1 };

        var stats = await Sender(tamperer).SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(stats.PushAttempts, Is.EqualTo(2));
        Assert.That(stats.ChunksSent, Is.EqualTo(stats.ChunksTotal + 1), "only the corrupted chunk went twice");
        TransferTrees.AssertSame(_source, stats.RestoredPath!);
    }

    [Test]
    public async Task Corrupted_chunk_is_reported_and_not_stored(CancellationToken ct)
    {
        WriteSampleTree();
        var manifest = await ManifestBuilder.BuildAsync(_source, Chunk, 2, ct);
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);
        var hash = prepared.Missing[0];

        using var call = client.Push(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = hash, Data = ByteString.CopyFrom(new byte[Chunk]) }, ct);
        await call.RequestStream.CompleteAsync();
        var pushed = await call;

        Assert.That(pushed.Received, Is.Zero);
        Assert.That(pushed.Rejected, Is.EqualTo(new[] { hash }));
        Assert.That(File.Exists(Path.Combine(_target.Migrations.StoreRoot, Migration, ChunkHash.Hex(hash))), Is.False);
        var again = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);
        Assert.That(again.Missing, Has.Member(hash));
    }

    [Test]
    public async Task Broken_stream_is_completed_by_a_new_prepare_and_push(CancellationToken ct)
    {
        WriteSampleTree();
        var manifest = await ManifestBuilder.BuildAsync(_source, Chunk, 2, ct);
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);
        var chunks = TransferTrees.Contents(_source, manifest);
        Assert.That(prepared.Missing, Has.Count.GreaterThan(5));

        using (var broken = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var call = client.Push(cancellationToken: broken.Token);
            foreach (var hash in prepared.Missing.Take(3))
            {
                await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = hash, Data = chunks[ChunkHash.Hex(hash)] }, ct);
            }

            await Eventually.TrueAsync(() => _target.Migrations.Find(Migration)!.HeldCount == 3, "the target to store 3 chunks", Deadline);
            await broken.CancelAsync();
            Assert.That(async () => await call.ResponseAsync, Throws.InstanceOf<RpcException>());
            call.Dispose();
        }

        var resumed = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);
        Assert.That(resumed.Missing, Is.EqualTo(prepared.Missing.Skip(3)));

        using (var call = client.Push(cancellationToken: ct))
        {
            foreach (var hash in resumed.Missing)
            {
                await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = hash, Data = chunks[ChunkHash.Hex(hash)] }, ct);
            }

            await call.RequestStream.CompleteAsync();
            Assert.That((await call).Received, Is.EqualTo(resumed.Missing.Count));
        }

        var committed = await client.CommitAsync(new CommitRequest { MigrationId = Migration, Token = Token, ManifestHash = resumed.ManifestHash, Destination = "restored" }, cancellationToken: ct);
        TransferTrees.AssertSame(_source, committed.Path);
    }

    [Test]
    public async Task Sender_resumes_after_its_stream_breaks(CancellationToken ct)
    {
        WriteSampleTree();
        var tamperer = new ChunkTamperer
        {
            BreakAfter = 4,
            BeforeBreak = () => Eventually.TrueAsync(() => _target.Migrations.Find(Migration)?.HeldCount == 4, "the target to store 4 chunks", Deadline),
        };

        var stats = await Sender(tamperer).SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(stats.PushAttempts, Is.EqualTo(2));
        Assert.That(stats.ChunksSent, Is.EqualTo(stats.ChunksTotal), "the second attempt sent only what the first did not deliver");
        TransferTrees.AssertSame(_source, stats.RestoredPath!);
    }

    [Test]
    public async Task Wrong_token_is_refused(CancellationToken ct)
    {
        WriteSampleTree();
        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, Migration, "not-the-token", "restored", ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
    }

    [Test]
    public async Task Missing_token_is_unauthenticated(CancellationToken ct)
    {
        WriteSampleTree();
        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, Migration, "", "restored", ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
    }

    [Test]
    public async Task Unknown_migration_is_refused(CancellationToken ct)
    {
        WriteSampleTree();
        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, "mig-other", Token, "restored", ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
    }

    [Test]
    public async Task Expired_token_is_refused(CancellationToken ct)
    {
        WriteSampleTree();
        _target.Authorizations.Allow("mig-old", Token, 1 << 20, DateTimeOffset.UtcNow.AddSeconds(-1));
        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, "mig-old", Token, "restored", ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(error.Status.Detail, Does.Contain("expired"));
    }

    [Test]
    public async Task Token_is_consumed_by_its_commit(CancellationToken ct)
    {
        WriteSampleTree();
        await Sender().SendAsync(_source, Migration, Token, "restored", ct);

        var error = await Assert.ThrowsAsync<RpcException>(() => Sender().SendAsync(_source, Migration, Token, "again", ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(Directory.Exists(Path.Combine(_target.Migrations.RestoreRoot, "again")), Is.False);
    }

    private static IEnumerable<TestCaseData> HostileManifests()
    {
        static ManifestEntry File(string path, int size = 10) => FileOf(path, new byte[size]);
        static ManifestEntry Dir(string path) => new() { Path = path, Type = EntryType.Directory, Mode = 0x1ED };
        TestCaseData Case(string name, StatusCode code, string field, params ManifestEntry[] entries) =>
            new TestCaseData(entries.ToList(), code, field).SetName($"Hostile_manifest_is_refused({name})");

        yield return Case("parent traversal", StatusCode.InvalidArgument, "path", File("../evil"));
        yield return Case("traversal inside a path", StatusCode.InvalidArgument, "path", Dir("a"), File("a/../../../evil"));
        yield return Case("absolute path", StatusCode.InvalidArgument, "path", File("/tmp/evil"));
        yield return Case("dot component", StatusCode.InvalidArgument, "path", File("./evil"));
        yield return Case("backslash", StatusCode.InvalidArgument, "path", File("..\\evil"));
        yield return Case("symlink", StatusCode.InvalidArgument, "type", new ManifestEntry { Path = "link", Type = EntryType.Symlink });
        yield return Case("hardlink", StatusCode.InvalidArgument, "type", new ManifestEntry { Path = "link", Type = EntryType.Hardlink });
        yield return Case("device", StatusCode.InvalidArgument, "type", new ManifestEntry { Path = "sda", Type = EntryType.Device });
        yield return Case("fifo", StatusCode.InvalidArgument, "type", new ManifestEntry { Path = "pipe", Type = EntryType.Fifo });
        yield return Case("unknown type", StatusCode.InvalidArgument, "type", new ManifestEntry { Path = "x", Type = (EntryType)42 });
        yield return Case("duplicate path", StatusCode.InvalidArgument, "twice", File("state.bin"), File("state.bin"));
        yield return Case("file as a parent", StatusCode.InvalidArgument, "parent", File("a"), File("a/b"));
        yield return Case("undeclared parent", StatusCode.InvalidArgument, "parent", File("nowhere/evil"));
        yield return Case("huge entry", StatusCode.ResourceExhausted, "entries[0].size", new ManifestEntry { Path = "huge", Type = EntryType.File, Size = 1UL << 40 });
        yield return Case("total over the budget", StatusCode.ResourceExhausted, "manifest", [.. Enumerable.Range(0, 5).Select(i => File($"part-{i}", 1 << 20))]);
        yield return Case("too many entries", StatusCode.ResourceExhausted, "manifest.entries", [.. Enumerable.Range(0, 65).Select(i => Dir($"d{i}"))]);
        yield return Case("chunks missing for the size", StatusCode.InvalidArgument, "chunks", Truncated(File("short", 3 * Chunk)));
        yield return Case("hash of the wrong length", StatusCode.InvalidArgument, "chunks[0]", new ManifestEntry { Path = "f", Type = EntryType.File, Size = 1, Chunks = { ByteString.CopyFrom(1, 2, 3) } });
        yield return Case("directory with content", StatusCode.InvalidArgument, "directory", new ManifestEntry { Path = "d", Type = EntryType.Directory, Size = 5 });
    }

    [TestCaseSource(nameof(HostileManifests))]
    public async Task Hostile_manifest_is_refused(List<ManifestEntry> entries, StatusCode code, string field, CancellationToken ct)
    {
        var manifest = new CheckpointManifest { ChunkSize = Chunk };
        manifest.Entries.AddRange(entries);
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct));

        Assert.That(error!.StatusCode, Is.EqualTo(code), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.Contain(field));
        var commit = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.CommitAsync(new CommitRequest { MigrationId = Migration, Token = Token, ManifestHash = ByteString.CopyFrom(ManifestBuilder.Hash(manifest)), Destination = "restored" }, cancellationToken: ct));
        Assert.That(commit!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        AssertNothingWritten();
    }

    [Test]
    public async Task Commit_with_chunks_missing_is_refused_and_leaves_nothing(CancellationToken ct)
    {
        WriteSampleTree();
        var manifest = await ManifestBuilder.BuildAsync(_source, Chunk, 2, ct);
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);
        var chunks = TransferTrees.Contents(_source, manifest);
        using (var call = client.Push(cancellationToken: ct))
        {
            foreach (var hash in prepared.Missing.Skip(1))
            {
                await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = hash, Data = chunks[ChunkHash.Hex(hash)] }, ct);
            }

            await call.RequestStream.CompleteAsync();
            await call;
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.CommitAsync(
            new CommitRequest { MigrationId = Migration, Token = Token, ManifestHash = prepared.ManifestHash, Destination = "restored" }, cancellationToken: ct));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(error.Status.Detail, Does.Contain("1 of"));
        Assert.That(Directory.Exists(_target.Migrations.RestoreRoot) ? Directory.EnumerateFileSystemEntries(_target.Migrations.RestoreRoot) : [], Is.Empty);
    }

    [Test]
    public async Task Chunk_of_the_wrong_length_for_its_place_is_rejected(CancellationToken ct)
    {
        // The last chunk of a 10-byte file must be 10 bytes: a longer chunk with a matching hash does not fit the manifest.
        var data = new byte[Chunk];
        var manifest = new CheckpointManifest { ChunkSize = Chunk, Entries = { new ManifestEntry { Path = "f", Type = EntryType.File, Size = 10, Chunks = { ByteString.CopyFrom(System.Security.Cryptography.SHA256.HashData(data)) } } } };
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);

        using var call = client.Push(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = prepared.Missing[0], Data = ByteString.CopyFrom(data) }, ct);
        await call.RequestStream.CompleteAsync();

        Assert.That((await call).Rejected, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Commit_destination_must_be_one_plain_name(CancellationToken ct)
    {
        var client = new CheckpointTransfer.CheckpointTransferClient(_channel);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.CommitAsync(
            new CommitRequest { MigrationId = Migration, Token = Token, Destination = "../outside" }, cancellationToken: ct));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(error.Status.Detail, Does.StartWith("destination"));
    }

    [TestCase("../x")]
    [TestCase("a/../../x")]
    [TestCase("/etc/passwd")]
    public void Unpacker_refuses_a_path_that_normalises_outside(string path) =>
        Assert.That(() => CheckpointUnpacker.Below(Path.Combine(_dir, "staging"), path), Throws.InstanceOf<RpcException>());

    private static ManifestEntry FileOf(string path, byte[] content)
    {
        var entry = new ManifestEntry { Path = path, Type = EntryType.File, Size = (ulong)content.Length, Mode = 0x1A4 };
        for (var offset = 0; offset < content.Length; offset += Chunk)
        {
            entry.Chunks.Add(ByteString.CopyFrom(System.Security.Cryptography.SHA256.HashData(content.AsSpan(offset, Math.Min(Chunk, content.Length - offset)))));
        }

        return entry;
    }

    private static ManifestEntry Truncated(ManifestEntry entry)
    {
        entry.Chunks.RemoveAt(entry.Chunks.Count - 1);
        return entry;
    }

    private CheckpointSender Sender(Interceptor? interceptor = null)
    {
        var invoker = interceptor is null ? _channel.CreateCallInvoker() : _channel.Intercept(interceptor);
        return new CheckpointSender(invoker, new CheckpointSenderOptions { ChunkSize = Chunk, Streams = 1, MaxAttempts = 3 });
    }

    /// <summary>Nothing under the test folder but the source and the target's (empty) store and restore folders.</summary>
    private void AssertNothingWritten()
    {
        var written = Directory.EnumerateFileSystemEntries(_dir, "*", SearchOption.AllDirectories)
            .Where(p => !p.StartsWith(_source, StringComparison.Ordinal))
            .Select(p => Path.GetRelativePath(_dir, p))
            .Where(p => Directory.Exists(Path.Combine(_dir, p)) ? !IsStoreFolder(p) : true)
            .ToList();
        Assert.That(written, Is.Empty);
    }

    private static bool IsStoreFolder(string relative) =>
        relative is "source" or "sandbox" or "sandbox/target" or "sandbox/target/transfers" or "sandbox/target/restore" || relative == $"sandbox/target/transfers/{Migration}";

    private void WriteSampleTree()
    {
        var random = new Random(7);
        byte[] Bytes(int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        Directory.CreateDirectory(Path.Combine(_source, "a", "b"));
        Directory.CreateDirectory(Path.Combine(_source, "empty-dir"));
        File.WriteAllBytes(Path.Combine(_source, "meta.json"), "{\"step\":42}"u8.ToArray());
        File.WriteAllBytes(Path.Combine(_source, "empty.bin"), []);
        File.WriteAllBytes(Path.Combine(_source, "a", "weights.bin"), Bytes((3 * Chunk) + 123));
        File.WriteAllBytes(Path.Combine(_source, "a", "b", "big.bin"), Bytes(10 * Chunk));
        File.WriteAllBytes(Path.Combine(_source, "a", "b", "copy.bin"), Bytes(Chunk));
        File.WriteAllBytes(Path.Combine(_source, "a", "private.key"), Bytes(100));
        File.SetUnixFileMode(Path.Combine(_source, "a", "private.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
