using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The source side of a checkpoint transfer: builds the directory's manifest, asks the target what
/// it lacks, pushes those chunks on a few parallel streams, and repeats until nothing is missing, so a
/// broken stream or a rejected chunk only costs the chunks it lost (bounded by
/// <see cref="CheckpointSenderOptions.MaxAttempts"/>). A round without a destination is a pre-copy:
/// the next round's Prepare then lists only what changed, and files unchanged since the previous
/// round are not hashed again (<see cref="ChunkHashCache"/>). Refusals (token, bounds, unsafe manifest)
/// are not retried: they surface as the target's <see cref="RpcException"/>.
/// </summary>
public sealed class CheckpointSender
{
    private readonly CheckpointTransfer.CheckpointTransferClient _client;
    private readonly CheckpointSenderOptions _options;
    private readonly TimeProvider _time;
    private readonly ChunkHashCache _hashes = new();

    public CheckpointSender(CallInvoker target, CheckpointSenderOptions? options = null, TimeProvider? time = null)
    {
        _client = new CheckpointTransfer.CheckpointTransferClient(target);
        _options = options ?? new CheckpointSenderOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Sends <paramref name="directory"/>; commits it as <paramref name="destination"/> on the target, or with null only stages its chunks (pre-copy).</summary>
    public async Task<TransferStats> SendAsync(string directory, string migrationId, string token, string? destination, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        var manifest = await ManifestBuilder.BuildAsync(directory, _options.ChunkSize, _options.HashParallelism, ct, _hashes, _time);
        var manifestTime = _time.GetElapsedTime(started);
        var localHash = ManifestBuilder.Hash(manifest);
        var sources = ChunkSources(directory, manifest);
        long bytesTotal = sources.Values.Sum(s => (long)s.Length);

        var pushStarted = _time.GetTimestamp();
        var counters = new PushCounters();
        var attempts = 0;
        PrepareResponse prepared;
        while (true)
        {
            prepared = await _client.PrepareAsync(new PrepareRequest { MigrationId = migrationId, Token = token, Manifest = manifest }, cancellationToken: ct);
            if (prepared.Missing.Count == 0)
            {
                break;
            }

            if (attempts == _options.MaxAttempts)
            {
                throw new IOException($"migration {migrationId}: {prepared.Missing.Count} chunks still missing after {attempts} push attempts");
            }

            attempts++;
            var missing = prepared.Missing.Select(ChunkHash.Hex).ToList();
            var streams = Math.Clamp(_options.Streams, 1, missing.Count);

            // Contiguous runs in manifest order: each stream writes its own files, in order, rather than
            // every stream taking turns on the same file (the target's writes to one file serialise).
            var pushes = Enumerable.Range(0, streams)
                .Select(s => PushAsync(migrationId, token, missing[(s * missing.Count / streams)..((s + 1) * missing.Count / streams)], sources, counters, ct))
                .ToList();
            try
            {
                await Task.WhenAll(pushes);
            }
            catch (RpcException ex) when (IsTransient(ex, ct))
            {
                // A broken stream: what reached the target is kept there; the next Prepare says what did not.
            }

            foreach (var push in pushes.Where(p => !p.IsCompletedSuccessfully))
            {
                var error = push.Exception?.InnerException;
                if (error is not RpcException rpc || !IsTransient(rpc, ct))
                {
                    await push;
                }
            }
        }

        if (!prepared.ManifestHash.Span.SequenceEqual(localHash))
        {
            throw new InvalidOperationException($"migration {migrationId}: the target hashed the manifest differently");
        }

        var pushTime = _time.GetElapsedTime(pushStarted);
        var commitStarted = _time.GetTimestamp();
        string? restored = null;
        if (destination is not null)
        {
            var committed = await _client.CommitAsync(
                new CommitRequest { MigrationId = migrationId, Token = token, ManifestHash = prepared.ManifestHash, Destination = destination },
                cancellationToken: ct);
            restored = committed.Path;
        }

        return new TransferStats(sources.Count, counters.Chunks, bytesTotal, counters.Bytes, attempts, manifestTime, pushTime,
            _time.GetElapsedTime(commitStarted), _time.GetElapsedTime(started), restored);
    }

    private static bool IsTransient(RpcException ex, CancellationToken ct) =>
        !ct.IsCancellationRequested && ex.StatusCode is StatusCode.Unavailable or StatusCode.Cancelled or StatusCode.DeadlineExceeded
            or StatusCode.Aborted or StatusCode.Internal or StatusCode.Unknown;

    /// <summary>Where each distinct chunk can be read: its first occurrence in the directory.</summary>
    private static Dictionary<string, ChunkSource> ChunkSources(string directory, CheckpointManifest manifest)
    {
        var sources = new Dictionary<string, ChunkSource>(StringComparer.Ordinal);
        foreach (var entry in manifest.Entries.Where(e => e.Type == EntryType.File))
        {
            var path = Path.Combine(directory, entry.Path);
            for (var i = 0; i < entry.Chunks.Count; i++)
            {
                var offset = (long)i * manifest.ChunkSize;
                sources.TryAdd(ChunkHash.Hex(entry.Chunks[i]), new ChunkSource(path, offset, (int)Math.Min(manifest.ChunkSize, (long)entry.Size - offset), entry.Chunks[i]));
            }
        }

        return sources;
    }

    /// <summary>One stream: reads the next chunk while the previous one is being written.</summary>
    private async Task PushAsync(string migrationId, string token, IReadOnlyList<string> chunks, Dictionary<string, ChunkSource> sources, PushCounters counters, CancellationToken ct)
    {
        using var call = _client.Push(cancellationToken: ct);
        var buffers = new[] { ArrayPool<byte>.Shared.Rent(_options.ChunkSize), ArrayPool<byte>.Shared.Rent(_options.ChunkSize) };
        var handles = new Dictionary<string, Microsoft.Win32.SafeHandles.SafeFileHandle>(StringComparer.Ordinal);
        try
        {
            Task write = Task.CompletedTask;
            var pending = 0;
            for (var i = 0; i < chunks.Count; i++)
            {
                var source = sources[chunks[i]];
                if (!handles.TryGetValue(source.Path, out var handle))
                {
                    handle = File.OpenHandle(source.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
                    handles.Add(source.Path, handle);
                }

                var buffer = buffers[i % 2];
                await ManifestBuilder.ReadExactlyAsync(handle, buffer.AsMemory(0, source.Length), source.Offset, ct);
                await Written(write, pending, counters);

                // The message wraps the buffer without a copy; it is read again only after this write completed.
                var message = new ChunkMessage { Hash = source.Hash, Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, source.Length)) };
                if (i == 0)
                {
                    message.MigrationId = migrationId;
                    message.Token = token;
                }

                write = call.RequestStream.WriteAsync(message, ct);
                pending = source.Length;
            }

            await Written(write, pending, counters);
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }
        finally
        {
            foreach (var handle in handles.Values)
            {
                handle.Dispose();
            }

            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
        }
    }

    private static async Task Written(Task write, int length, PushCounters counters)
    {
        await write;
        if (length > 0)
        {
            counters.Add(length);
        }
    }

    /// <summary>Chunks written to a stream, including those a broken stream lost after writing: the cost of the round.</summary>
    private sealed class PushCounters
    {
        private int _chunks;
        private long _bytes;

        public int Chunks => Volatile.Read(ref _chunks);

        public long Bytes => Interlocked.Read(ref _bytes);

        public void Add(int length)
        {
            Interlocked.Increment(ref _chunks);
            Interlocked.Add(ref _bytes, length);
        }
    }

    private sealed record ChunkSource(string Path, long Offset, int Length, ByteString Hash);
}
