using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Net.Client;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Measures a checkpoint transfer over loopback: a directory of random files, hashed into a
/// manifest, prepared, pushed and committed into a receiver on its own Kestrel server in this
/// process (real HTTP/2 over TCP). Prints GB/s (10^9 bytes) end to end with the machine it ran on.
/// A smaller transfer runs first, unmeasured (<c>--warmup-mib</c>, 0 for none): a worker is a long-lived
/// process, so what counts is the transfer code once the JIT has optimised it, not its first minutes.
/// Run it with <c>Scheduler.Worker bench-transfer [--mib N] [--files N] [--chunk-kib N] [--streams N] [--warmup-mib N]</c>.
/// </summary>
public static class TransferBenchmark
{
    public const string Verb = "bench-transfer";

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, CancellationToken ct)
    {
        var mib = 1024;
        var files = 16;
        var chunkKib = 1024;
        var streams = new CheckpointSenderOptions().Streams;
        var warmupMib = 256;
        for (var i = 0; i < args.Count; i++)
        {
            var value = i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) && v > 0 ? v : -1;
            switch (args[i])
            {
                case "--mib" when value > 0: mib = value; i++; break;
                case "--files" when value > 0: files = value; i++; break;
                case "--chunk-kib" when value > 0: chunkKib = value; i++; break;
                case "--streams" when value > 0: streams = value; i++; break;
                case "--warmup-mib" when i + 1 < args.Count && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var w) && w >= 0: warmupMib = w; i++; break;
                default:
                    await output.WriteLineAsync($"usage: Scheduler.Worker {Verb} [--mib N] [--files N] [--chunk-kib N] [--streams N] [--warmup-mib N] (bad argument '{args[i]}')");
                    return 2;
            }
        }

        if (warmupMib > 0)
        {
            var warmup = await MeasureAsync((long)warmupMib << 20, files, chunkKib * 1024, streams, ct);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"warm-up: {warmupMib} MiB at {warmup.GigabytesPerSecond:F2} GB/s (not the measurement)"));
        }

        var result = await MeasureAsync((long)mib << 20, files, chunkKib * 1024, streams, ct);
        await output.WriteLineAsync(result.ToString());
        return 0;
    }

    /// <summary>Runs one transfer of <paramref name="bytes"/> bytes in <paramref name="files"/> files; the data is written before the clock starts.</summary>
    public static async Task<TransferBenchmarkResult> MeasureAsync(long bytes, int files, int chunkSize, int streams, CancellationToken ct)
    {
        var work = Path.Combine(Path.GetTempPath(), $"scheduler-bench-transfer-{Guid.NewGuid():N}");
        var source = Path.Combine(work, "source");
        try
        {
            WriteRandomTree(source, bytes, files);
            await using var target = await TransferServer.StartAsync(Path.Combine(work, "target"), TimeProvider.System, ct);
            target.Authorizations.Allow("bench", "bench-token", bytes + 1, DateTimeOffset.UtcNow.AddHours(1));
            using var channel = GrpcChannel.ForAddress(target.Url, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            });
            var sender = new CheckpointSender(channel.CreateCallInvoker(), new CheckpointSenderOptions { ChunkSize = chunkSize, Streams = streams });
            var stats = await sender.SendAsync(source, "bench", "bench-token", "restored", ct);
            if (Directory.EnumerateFiles(stats.RestoredPath!, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) != bytes)
            {
                throw new InvalidOperationException("the restored checkpoint does not have the bytes that were sent");
            }

            return new TransferBenchmarkResult(stats, chunkSize, streams, Machine());
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static void WriteRandomTree(string root, long bytes, int files)
    {
        var random = new Random(42);
        var buffer = new byte[4 << 20];
        for (var f = 0; f < files; f++)
        {
            var directory = Path.Combine(root, $"shard-{f % 4}");
            Directory.CreateDirectory(directory);
            var size = (bytes / files) + (f < bytes % files ? 1 : 0);
            using var stream = new FileStream(Path.Combine(directory, $"state-{f:D3}.bin"), FileMode.CreateNew);
            for (long written = 0; written < size; written += buffer.Length)
            {
                random.NextBytes(buffer);
                stream.Write(buffer, 0, (int)Math.Min(buffer.Length, size - written));
            }
        }
    }

    private static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{Environment.ProcessorCount} cores{(cpu is null ? "" : $" ({cpu})")}, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }
}

/// <summary>One benchmark transfer: the sender's statistics and where it ran.</summary>
public sealed record TransferBenchmarkResult(TransferStats Stats, int ChunkSize, int Streams, string Machine)
{
    public double GigabytesPerSecond => Stats.BytesTotal / Stats.Duration.TotalSeconds / 1e9;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"""
        checkpoint transfer over loopback: {Stats.BytesTotal / (1 << 20)} MiB, {Stats.ChunksTotal} chunks of {ChunkSize / 1024} KiB, {Streams} streams, SHA-256 per chunk
          total {Stats.Duration.TotalSeconds:F3} s = {GigabytesPerSecond:F2} GB/s (manifest hashing {Stats.ManifestTime.TotalSeconds:F3} s, push {Stats.PushTime.TotalSeconds:F3} s, commit {Stats.CommitTime.TotalSeconds:F3} s)
          push only: {Stats.BytesSent / Stats.PushTime.TotalSeconds / 1e9:F2} GB/s; sent {Stats.ChunksSent} chunks in {Stats.PushAttempts} attempt(s)
          machine: {Machine}
        """);
}
