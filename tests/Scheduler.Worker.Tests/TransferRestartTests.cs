using Grpc.Net.Client;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>A target restarted mid-migration keeps what it had staged and verified.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class TransferRestartTests
{
    private const string Migration = "mig-restart";
    private const string Token = "restart-token";
    private const int Chunk = TransferLimits.MinChunkBytes;

    private string _dir = null!;
    private string _source = null!;
    private string _targetData = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-transfer-tests", Guid.NewGuid().ToString("N"));
        _source = Path.Combine(_dir, "source");
        _targetData = Path.Combine(_dir, "target");
        WriteTree(_source);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Restarted_target_keeps_its_staged_chunks_and_is_sent_only_the_missing_ones(CancellationToken ct)
    {
        var staged = await StageHalfAndStopAsync(ct);

        await using var target = await StartTargetAsync(ct);
        using var channel = GrpcChannel.ForAddress(target.Url);
        var stats = await Sender(channel).SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(stats.ChunksSent, Is.EqualTo(stats.ChunksTotal - staged.Chunks));
        Assert.That(stats.BytesSent, Is.EqualTo(stats.BytesTotal - staged.Bytes));
        Assert.That(stats.PushAttempts, Is.EqualTo(1));
        TransferTrees.AssertSame(_source, stats.RestoredPath!);
    }

    [Test]
    public async Task Restarted_target_does_not_trust_a_staged_chunk_whose_bytes_changed(CancellationToken ct)
    {
        var staged = await StageHalfAndStopAsync(ct);

        // One byte of the first staged chunk changes while the worker is down, and the journal gains a torn record.
        var tree = Path.Combine(_targetData, "transfers", Migration, "tree");
        var big = Path.Combine(tree, "a", "big.bin");
        var bytes = File.ReadAllBytes(big);
        bytes[10] ^= 0x5A;
        File.WriteAllBytes(big, bytes);
        File.AppendAllText(Path.Combine(_targetData, "transfers", Migration, "journal"), "torn");

        await using var target = await StartTargetAsync(ct);
        using var channel = GrpcChannel.ForAddress(target.Url);
        var stats = await Sender(channel).SendAsync(_source, Migration, Token, "restored", ct);

        Assert.That(stats.ChunksSent, Is.EqualTo(stats.ChunksTotal - staged.Chunks + 1), "the changed chunk is sent again");
        TransferTrees.AssertSame(_source, stats.RestoredPath!);
    }

    /// <summary>Prepares the whole tree on a target, pushes half of the missing chunks, and stops that target.</summary>
    private async Task<(int Chunks, long Bytes)> StageHalfAndStopAsync(CancellationToken ct)
    {
        var manifest = await ManifestBuilder.BuildAsync(_source, Chunk, 2, ct);
        var contents = TransferTrees.Contents(_source, manifest);
        await using var target = await StartTargetAsync(ct);
        using var channel = GrpcChannel.ForAddress(target.Url);
        var client = new CheckpointTransfer.CheckpointTransferClient(channel);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Migration, Token = Token, Manifest = manifest }, cancellationToken: ct);

        // In manifest order, so the first staged chunk is the start of a/big.bin.
        var half = prepared.Missing.Take(prepared.Missing.Count / 2).ToList();
        using (var call = client.Push(cancellationToken: ct))
        {
            foreach (var hash in half)
            {
                await call.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Migration, Token = Token, Hash = hash, Data = contents[ChunkHash.Hex(hash)] }, ct);
            }

            await call.RequestStream.CompleteAsync();
            Assert.That((await call).Received, Is.EqualTo(half.Count));
        }

        Assert.That(target.Migrations.Find(Migration)!.HeldCount, Is.EqualTo(half.Count));
        return (half.Count, half.Sum(h => (long)contents[ChunkHash.Hex(h)].Length));
    }

    /// <summary>A target over the same data directory; each start is a new process's worth of state (the master allows the migration again).</summary>
    private async Task<TransferServer> StartTargetAsync(CancellationToken ct)
    {
        var target = await TransferServer.StartAsync(_targetData, TimeProvider.System, ct, new TransferLimits { MaxEntries = 64, MaxEntryBytes = 1 << 20 });
        target.Authorizations.Allow(Migration, Token, 4 << 20, DateTimeOffset.UtcNow.AddMinutes(10));
        return target;
    }

    private static CheckpointSender Sender(GrpcChannel channel) =>
        new(channel.CreateCallInvoker(), new CheckpointSenderOptions { ChunkSize = Chunk, Streams = 2, MaxAttempts = 3 });

    private static void WriteTree(string root)
    {
        var random = new Random(11);
        byte[] Bytes(int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }

        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        File.WriteAllBytes(Path.Combine(root, "a", "big.bin"), Bytes(12 * Chunk));
        File.WriteAllBytes(Path.Combine(root, "a", "b", "tail.bin"), Bytes((5 * Chunk) + 321));
        File.WriteAllBytes(Path.Combine(root, "z.json"), "{\"step\":7}"u8.ToArray());
    }
}
