using System.Diagnostics;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Tests.Common.Fuzz;

namespace Scheduler.Worker.Tests;

/// <summary>
/// Hostile checkpoint archives fed to a real worker process's CheckpointTransfer service, with
/// migrations a (fake) master really authorised: manifests with escaping, absolute and NUL paths,
/// links, devices and FIFOs, oversized and inconsistent entries; chunks with wrong hashes, wrong
/// sizes, or none prepared; commits with escaping destinations and wrong manifest hashes; and
/// random or truncated bytes for each. Every call must be answered with a status other than
/// UNKNOWN or INTERNAL, the worker must stay up, nothing may appear outside its data folder, and
/// what it does restore holds only plain files and folders without set-id bits. Everything runs over mutual
/// TLS as deployed, the fuzz client being a peer node with a certificate of the cluster CA: what a node whose
/// certificate was stolen or which was itself compromised could send.
/// </summary>
[TestFixture]
[CancelAfter(600_000)]
public sealed class CheckpointTransferFuzzTests
{
    private const int Migrations = 16;
    private const int ChunkSize = 4096;

    private static readonly StatusCode[] Forbidden = [StatusCode.Unknown, StatusCode.Internal];

    private static readonly string[] HostilePaths =
    [
        "../escape", "../../../../tmp/escape", "/etc/passwd", "a/../../b", "./a", "a//b", "a/./b", "", ".", "..",
        "a\0b", "a\\..\\b", new string('d', 5000), string.Join('/', Enumerable.Repeat("d", 100)), "ok/../../x", "~root/x",
    ];

    private static readonly string[] HostileDestinations = ["../out", "/tmp/out", "a/b", "..", ".", "", "x\0y", new string('z', 300), "ok-dest"];

    private string _root = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "scheduler-transfer-fuzz", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_root, "outside"));
        File.WriteAllText(Path.Combine(_root, "outside", "sentinel"), "untouched");
    }

    [TearDown]
    public void TearDown()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Test]
    public async Task Hostile_archives_are_refused_with_a_proper_status_and_nothing_is_written_outside(CancellationToken ct)
    {
        // TLS as deployed: the fake master serves master:test of the test CA, the worker runs with node:fuzz-target,
        // and the fuzz client reaches the transfer service as another node (node:fuzz-peer), the only callers it takes.
        await using var master = await FakeMaster.StartAsync(ct, tls: true);
        master.AfterRegistered = [.. Enumerable.Range(0, Migrations).Select(i => new MasterCommand
        {
            Epoch = 1,
            ExpectMigration = new ExpectMigration { MigrationId = Id(i), Token = Token(i), MaxBytes = 1 << 20, TtlS = 600 },
        })];
        var dataDir = Path.Combine(_root, "worker");
        await using var worker = ManagedProcess.StartDotnet("worker", Artifacts.WorkerDll,
            ["--master", master.Address.ToString(), "--node-id", "fuzz-target", "--data-dir", dataDir, "--gpu-probe", "simulated", "--gpus", "0",
             "--cpu-millis", "1000", "--memory-mib", "512", "--transfer-listen", "127.0.0.1:0", .. TestCertificates.Args(ClusterRole.Node, "fuzz-target")],
            Path.Combine(_root, "worker.log"));
        var address = await Eventually.ReturnsAsync(() => Task.FromResult(master.Registrations.FirstOrDefault()?.TransferAddress), "the worker to register");
        await Eventually.TrueAsync(() => Task.FromResult(worker.ReadLog().Contains($"Expecting migration {Id(Migrations - 1)}", StringComparison.Ordinal)), "the worker to expect the migrations");
        var before = Outside(dataDir);

        using var channel = TestCertificates.Channel($"https://{address}", ClusterRole.Node, "fuzz-peer");
        var invoker = channel.CreateCallInvoker();
        var methods = CheckpointTransfer.Descriptor.Methods.ToDictionary(m => m.Name, RawCalls.For);
        var fuzzer = new WireFuzzer([.. Enumerable.Range(0, Migrations).Select(Id)]);
        var tally = new FuzzTally();
        var perRpc = FuzzSettings.RequestsPerRpc;

        // Two migrations go the whole way with hostile modes, so a commit's restore is checked too.
        var restored = new List<string>();
        for (var i = Migrations - 2; i < Migrations; i++)
        {
            restored.Add(await TransferWholeAsync(invoker, methods, i, tally));
        }

        var clock = Stopwatch.StartNew();
        var next = -1;
        var runners = Enumerable.Range(0, FuzzSettings.Concurrency).Select(_ => Task.Run(async () =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) < perRpc * 3)
            {
                var random = new Random(unchecked((FuzzSettings.Seed * 1_000_003) + n));
                var (rpc, payloads) = (n % 3) switch
                {
                    0 => ("Prepare", new List<byte[]> { Prepare(random, fuzzer) }),
                    1 => ("Push", Push(random, fuzzer)),
                    _ => ("Commit", new List<byte[]> { Commit(random, fuzzer) }),
                };
                var status = await RawCalls.CallAsync(invoker, methods[rpc], payloads, TimeSpan.FromSeconds(60), _ => tally.ConnectionLost($"CheckpointTransfer.{rpc}"));
                tally.Add($"CheckpointTransfer.{rpc}", status.StatusCode, status.Detail);
            }
        }, ct)).ToArray();
        await Task.WhenAll(runners);
        clock.Stop();

        await TestContext.Out.WriteLineAsync(
            $"checkpoint transfer fuzz: {tally.Total} calls ({perRpc} per RPC, seed {FuzzSettings.Seed}) in {clock.Elapsed.TotalSeconds:F1} s\n{tally.Table()}");
        Assert.Multiple(() =>
        {
            Assert.That(tally.Having(Forbidden), Is.Empty, "answers with UNKNOWN or INTERNAL");
            Assert.That(worker.HasExited, Is.False, "the worker survived");
            Assert.That(Outside(dataDir), Is.EquivalentTo(before), "nothing was written outside the worker's data folder");
            Assert.That(File.ReadAllText(Path.Combine(_root, "outside", "sentinel")), Is.EqualTo("untouched"));
            Assert.That(Specials(dataDir), Is.Empty, "links, devices, FIFOs or sockets among received checkpoints");
        });

        foreach (var tree in restored)
        {
            foreach (var entry in new DirectoryInfo(tree).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Append(new DirectoryInfo(tree)))
            {
                Assert.That(entry.LinkTarget, Is.Null, entry.FullName);
                Assert.That((int)entry.UnixFileMode & ~0x1FF, Is.Zero, $"{entry.FullName} keeps no set-id or sticky bit");
            }
        }
    }

    private static string Id(int i) => $"fz-{i}";

    /// <summary>The file content every prepared manifest of migration <paramref name="id"/> declares, so pushes can match it.</summary>
    private static byte[] Known(string id)
    {
        var data = new byte[ChunkSize + 777];
        new Random(id.Length + id[^1]).NextBytes(data);
        return data;
    }

    private static string Token(int i) => $"token-{i}";

    /// <summary>Sends a small real archive whose entries ask for set-id modes, and returns where it was restored.</summary>
    private static async Task<string> TransferWholeAsync(CallInvoker invoker, Dictionary<string, Method<byte[], byte[]>> methods, int i, FuzzTally tally)
    {
        var data = new byte[ChunkSize + 100];
        new Random(i).NextBytes(data);
        var chunks = data.Chunk(ChunkSize).Select(c => c.ToArray()).ToArray();
        var manifest = new CheckpointManifest { ChunkSize = ChunkSize };
        manifest.Entries.Add(new ManifestEntry { Path = "state", Type = EntryType.Directory, Mode = 0x1FF | 0xE00 });
        var file = new ManifestEntry { Path = "state/data.bin", Type = EntryType.File, Size = (ulong)data.Length, Mode = 0x1ED | 0xC00 };
        file.Chunks.AddRange(chunks.Select(c => ByteString.CopyFrom(SHA256.HashData(c))));
        manifest.Entries.Add(file);

        var client = new CheckpointTransfer.CheckpointTransferClient(invoker);
        var prepared = await client.PrepareAsync(new PrepareRequest { MigrationId = Id(i), Token = Token(i), Manifest = manifest });
        using (var push = client.Push())
        {
            foreach (var chunk in chunks)
            {
                await push.RequestStream.WriteAsync(new ChunkMessage { MigrationId = Id(i), Token = Token(i), Hash = ByteString.CopyFrom(SHA256.HashData(chunk)), Data = ByteString.CopyFrom(chunk) });
            }

            await push.RequestStream.CompleteAsync();
            await push;
        }

        // An escaping destination first: refused, and the migration can still commit properly.
        var refused = await RawCalls.CallAsync(invoker, methods["Commit"], [new CommitRequest { MigrationId = Id(i), Token = Token(i), ManifestHash = prepared.ManifestHash, Destination = "../escaped" }.ToByteArray()], TimeSpan.FromSeconds(30));
        tally.Add("CheckpointTransfer.Commit(whole)", refused.StatusCode, refused.Detail);
        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), refused.Detail);
        var committed = await client.CommitAsync(new CommitRequest { MigrationId = Id(i), Token = Token(i), ManifestHash = prepared.ManifestHash, Destination = $"whole-{i}" });
        tally.Add("CheckpointTransfer.Commit(whole)", StatusCode.OK, committed.Path);
        return committed.Path;
    }

    private static byte[] Prepare(Random random, WireFuzzer fuzzer)
    {
        var (id, token) = Credentials(random);
        var request = new PrepareRequest { MigrationId = id, Token = token, Manifest = HostileManifest(random, id) };
        return random.Next(10) switch
        {
            0 => fuzzer.Next(PrepareRequest.Descriptor, null, random, 8 << 20).Payload,
            1 => [.. request.ToByteArray(), .. WireFuzzer.Field(PrepareRequest.ManifestFieldNumber, fuzzer.Message(CheckpointManifest.Descriptor, random, 0))],
            2 => [.. request.ToByteArray(), .. fuzzer.OneField(PrepareRequest.Descriptor, random, 0)],
            _ => request.ToByteArray(),
        };
    }

    /// <summary>A manifest with one entry of the kinds a hostile archive holds.</summary>
    private static CheckpointManifest HostileManifest(Random random, string id)
    {
        var manifest = new CheckpointManifest { ChunkSize = random.Next(8) == 0 ? (uint)random.Next() : ChunkSize };
        var data = Known(id);
        var hashes = data.Chunk(ChunkSize).Select(c => ByteString.CopyFrom(SHA256.HashData(c))).ToArray();
        var entry = new ManifestEntry { Path = "f", Type = EntryType.File, Size = (ulong)data.Length, Mode = (uint)random.Next(0, 0x10000) };
        entry.Chunks.AddRange(hashes);
        switch (random.Next(7))
        {
            case 0:
                entry.Path = HostilePaths[random.Next(HostilePaths.Length)];
                break;
            case 1:
                entry.Type = (EntryType)random.Next(3, 9);
                break;
            case 2:
                entry.Size = random.Next(2) == 0 ? ulong.MaxValue : (ulong)random.NextInt64(1L << 20, long.MaxValue);
                break;
            case 3:
                entry.Chunks.Add(ByteString.CopyFrom(new byte[random.Next(0, 40)]));
                break;
            case 4:
                manifest.Entries.Add(new ManifestEntry { Path = "f", Type = EntryType.Directory });
                break;
            case 5:
                for (var i = 0; i < random.Next(1, 200); i++)
                {
                    manifest.Entries.Add(new ManifestEntry { Path = $"d{i}", Type = EntryType.Directory, Size = (ulong)random.Next(2) });
                }

                break;
            default:
                // Valid: later pushes and commits then meet a prepared manifest.
                break;
        }

        manifest.Entries.Add(entry);
        return manifest;
    }

    private static List<byte[]> Push(Random random, WireFuzzer fuzzer)
    {
        var (id, token) = Credentials(random);
        var chunks = new List<byte[]>();
        for (var i = random.Next(0, 4); i >= 0; i--)
        {
            var data = new byte[random.Next(100) == 0 ? random.Next(ChunkSize, 5 << 20) : random.Next(0, 2 * ChunkSize)];
            random.NextBytes(data);
            var hash = random.Next(3) == 0 ? SHA256.HashData(data) : new byte[random.Next(3) == 0 ? random.Next(0, 64) : 32];
            if (random.Next(2) == 0)
            {
                // A chunk of the manifest this migration may have prepared: sent whole, or with a byte changed.
                var known = Known(id).Chunk(ChunkSize).ToArray();
                data = known[random.Next(known.Length)].ToArray();
                hash = SHA256.HashData(data);
                if (random.Next(2) == 0)
                {
                    data[random.Next(data.Length)] ^= 0x5A;
                }
            }

            var chunk = new ChunkMessage { MigrationId = id, Token = token, Hash = ByteString.CopyFrom(hash), Data = ByteString.CopyFrom(data) };
            chunks.Add(random.Next(8) switch
            {
                0 => fuzzer.Next(ChunkMessage.Descriptor, null, random, 8 << 20).Payload,
                1 => [.. chunk.ToByteArray(), .. fuzzer.OneField(ChunkMessage.Descriptor, random, 0)],
                _ => chunk.ToByteArray(),
            });
        }

        return chunks;
    }

    private static byte[] Commit(Random random, WireFuzzer fuzzer)
    {
        var (id, token) = Credentials(random);
        var hash = new byte[random.Next(4) == 0 ? random.Next(0, 64) : 32];
        random.NextBytes(hash);
        var request = new CommitRequest { MigrationId = id, Token = token, ManifestHash = ByteString.CopyFrom(hash), Destination = HostileDestinations[random.Next(HostileDestinations.Length)] };
        return random.Next(6) switch
        {
            0 => fuzzer.Next(CommitRequest.Descriptor, null, random, 8 << 20).Payload,
            1 => [.. request.ToByteArray(), .. fuzzer.OneField(CommitRequest.Descriptor, random, 0)],
            _ => request.ToByteArray(),
        };
    }

    /// <summary>Mostly a migration the master authorised (so calls get past the token), sometimes a wrong one.</summary>
    private static (string Id, string Token) Credentials(Random random)
    {
        var i = random.Next(Migrations - 2);
        return random.Next(10) switch
        {
            0 => (Id(i), "wrong-token"),
            1 => ($"unknown-{random.Next(5)}", Token(i)),
            2 => ("../../escape", Token(i)),
            _ => (Id(i), Token(i)),
        };
    }

    /// <summary>Every path under the test folder that is not inside the worker's data folder.</summary>
    private HashSet<string> Outside(string dataDir) =>
        [.. Directory.EnumerateFileSystemEntries(_root, "*", SearchOption.AllDirectories)
            .Where(p => !p.StartsWith(dataDir + Path.DirectorySeparatorChar, StringComparison.Ordinal) && p != dataDir && !p.EndsWith(".log", StringComparison.Ordinal))];

    /// <summary>Symbolic links, devices, FIFOs and sockets among what the worker received (its transfers and restores).</summary>
    private static List<string> Specials(string dataDir)
    {
        var found = new List<string>();
        foreach (var folder in new[] { "transfers", "restore" }.Select(f => Path.Combine(dataDir, f)).Where(Directory.Exists))
        {
            var info = new ProcessStartInfo("find", [folder, "(", "-type", "l", "-o", "-type", "p", "-o", "-type", "b", "-o", "-type", "c", "-o", "-type", "s", ")", "-print"])
            {
                RedirectStandardOutput = true,
            };
            using var find = Process.Start(info)!;
            found.AddRange(find.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries));
            find.WaitForExit();
        }

        return found;
    }
}
