using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using Grpc.Net.Client;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Measures a checkpoint transfer over loopback: a directory of random files, hashed into a
/// manifest, prepared, pushed and committed into a receiver on its own Kestrel server in this
/// process (real HTTP/2 over TCP). Prints GB/s (10^9 bytes) end to end with the machine it ran on.
/// Smaller transfers run first, unmeasured (<c>--warmup-mib</c> each, 0 for none), until one of them leaves
/// the JIT next to nothing to compile: a worker is a long-lived process, so what counts is the transfer
/// code once tiered compilation has optimised it, not its first minutes.
/// Run it with <c>Scheduler.Worker bench-transfer [--mib N] [--files N] [--chunk-kib N] [--streams N] [--warmup-mib N]</c>.
/// </summary>
public static class TransferBenchmark
{
    public const string Verb = "bench-transfer";

    // Tiered compilation promotes a method only after 30 calls and a quiet spell, so a round that compiled
    // little may just precede a burst: take a few rounds before believing it.
    private const int MinWarmupRounds = 4;
    private const int MaxWarmupRounds = 12;
    private const int SettledJitMethods = 100;

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

        var work = Path.Combine(Path.GetTempPath(), $"scheduler-bench-transfer-{Guid.NewGuid():N}");
        try
        {
            // One target and one channel for every run, as a worker keeps them: the warm-up then also
            // settles what a host compiles once (DI resolvers, gRPC method invokers).
            await using var target = await TransferServer.StartAsync(Path.Combine(work, "target"), TimeProvider.System, ct);
            using var channel = GrpcChannel.ForAddress(target.Url, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            });
            var options = new CheckpointSenderOptions { ChunkSize = chunkKib * 1024, Streams = streams };
            for (var round = 1; warmupMib > 0 && round <= MaxWarmupRounds; round++)
            {
                var compiled = JitInfo.GetCompiledMethodCount();
                var warmup = await MeasureAsync(target, channel, options, $"warmup-{round}", (long)warmupMib << 20, files, work, ct);
                compiled = JitInfo.GetCompiledMethodCount() - compiled;
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"warm-up {round}: {warmupMib} MiB at {warmup.GigabytesPerSecond:F2} GB/s, {compiled} methods compiled (not the measurement)"));
                if (round >= MinWarmupRounds && compiled < SettledJitMethods)
                {
                    break;
                }
            }

            var jitMethods = JitInfo.GetCompiledMethodCount();
            var jitTime = JitInfo.GetCompilationTime();
            var result = await MeasureAsync(target, channel, options, "measured", (long)mib << 20, files, work, ct);
            await output.WriteLineAsync(result.ToString());
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  JIT during the measured run: {JitInfo.GetCompiledMethodCount() - jitMethods} methods, {(JitInfo.GetCompilationTime() - jitTime).TotalMilliseconds:F0} ms"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>Runs one transfer of <paramref name="bytes"/> bytes in <paramref name="files"/> files; the data is written before the clock starts.</summary>
    private static async Task<TransferBenchmarkResult> MeasureAsync(
        TransferServer target, GrpcChannel channel, CheckpointSenderOptions options, string migrationId, long bytes, int files, string work, CancellationToken ct)
    {
        var source = Path.Combine(work, migrationId);
        try
        {
            WriteRandomTree(source, bytes, files);
            target.Authorizations.Allow(migrationId, "bench-token", bytes + 1, DateTimeOffset.UtcNow.AddHours(1));
            var stats = await new CheckpointSender(channel.CreateCallInvoker(), options).SendAsync(source, migrationId, "bench-token", migrationId, ct);
            if (Directory.EnumerateFiles(stats.RestoredPath!, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) != bytes)
            {
                throw new InvalidOperationException("the restored checkpoint does not have the bytes that were sent");
            }

            Directory.Delete(stats.RestoredPath!, recursive: true);
            return new TransferBenchmarkResult(stats, options.ChunkSize, options.Streams, Machine());
        }
        finally
        {
            if (Directory.Exists(source))
            {
                Directory.Delete(source, recursive: true);
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
