using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The target side of a checkpoint transfer (see checkpoint_transfer.proto). Every call is checked
/// against the migration's token first; manifests are validated before anything is stored, chunks
/// are verified before they are written into the staging tree, and Commit renames that tree in.
/// </summary>
internal sealed partial class CheckpointTransferService : CheckpointTransferBinding
{
    private readonly TransferAuthorizations _authorizations;
    private readonly IncomingMigrations _migrations;
    private readonly ILogger<CheckpointTransferService> _logger;

    public CheckpointTransferService(TransferAuthorizations authorizations, IncomingMigrations migrations, ILogger<CheckpointTransferService> logger)
    {
        _authorizations = authorizations;
        _migrations = migrations;
        _logger = logger;
    }

    public override async Task<PrepareResponse> Prepare(PrepareRequest request, ServerCallContext context)
    {
        var maxBytes = Authorize(request.MigrationId, request.Token);
        var manifest = ManifestValidator.Validate(request.Manifest, _migrations.Limits, maxBytes);
        var store = _migrations.Get(request.MigrationId);
        await store.Gate.WaitAsync(context.CancellationToken);
        try
        {
            var missing = store.Prepare(manifest);
            LogPrepared(request.MigrationId, manifest.ChunkOrder.Count, missing.Count, manifest.TotalBytes);
            var response = new PrepareResponse
            {
                ManifestHash = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(manifest.Hash),
                ChunksTotal = (uint)manifest.ChunkOrder.Count,
            };
            response.Missing.AddRange(missing.Select(ChunkHash.FromHex));
            return response;
        }
        finally
        {
            store.Gate.Release();
        }
    }

    /// <summary>
    /// Verifies each chunk as it arrives and writes it while the next one is read and hashed: one write in
    /// flight per stream, so the disk's time hides behind the network's and the hashing's.
    /// </summary>
    public override async Task<PushResponse> Push(IAsyncStreamReader<ReceivedChunk> requestStream, ServerCallContext context)
    {
        var response = new PushResponse();
        MigrationStore? store = null;
        var writing = Task.CompletedTask;
        ReceivedChunk? written = null;
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                var chunk = requestStream.Current;
                try
                {
                    store = Check(chunk, store);
                }
                catch
                {
                    chunk.Dispose();
                    throw;
                }

                var hex = ChunkHash.Hex(chunk.Hash);

                // Only chunks of the prepared manifest are kept: this bounds the store by the manifest, hence by the budget.
                var expected = store.ExpectedLength(hex);
                if (expected is null)
                {
                    chunk.Dispose();
                    throw new RpcException(new Status(StatusCode.FailedPrecondition, $"hash: {hex} is not a chunk of the prepared manifest"));
                }

                if (chunk.Length != expected || !ChunkHash.Matches(chunk.Bytes, chunk.Hash))
                {
                    LogRejected(store.MigrationId, hex, chunk.Length);
                    response.Rejected.Add(Google.Protobuf.ByteString.CopyFrom(chunk.Hash));
                    chunk.Dispose();
                    continue;
                }

                await writing;
                written?.Dispose();
                written = chunk;
                var target = store;
                writing = Task.Run(() => target.Put(hex, chunk.Bytes), CancellationToken.None);
                response.Received++;
            }

            await writing;
        }
        finally
        {
            // A failed stream still waits for its write: the buffer must not go back to the pool while the kernel reads it.
            await writing.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            written?.Dispose();
        }

        return response;
    }

    /// <summary>The stream's store: the first chunk names (and authorises) the migration, later ones may only repeat it.</summary>
    private MigrationStore Check(ReceivedChunk chunk, MigrationStore? store)
    {
        if (store is null)
        {
            Authorize(chunk.MigrationId, chunk.Token);
            store = _migrations.Find(chunk.MigrationId)
                ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, "migration_id: no manifest prepared yet; call Prepare first"));
        }
        else if (chunk.MigrationId.Length > 0 && !string.Equals(chunk.MigrationId, store.MigrationId, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "migration_id: one stream carries one migration"));
        }

        if (chunk.Hash.Length != ChunkHash.Bytes)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"hash: a SHA-256 is {ChunkHash.Bytes} bytes, not {chunk.Hash.Length}"));
        }

        return store;
    }

    public override async Task<CommitResponse> Commit(CommitRequest request, ServerCallContext context)
    {
        Authorize(request.MigrationId, request.Token);
        if (!MigrationIds.IsValid(request.Destination))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "destination: one path component of letters, digits, '.', '_' or '-' (not '.' or '..')"));
        }

        var store = _migrations.Find(request.MigrationId);
        if (store?.Manifest is null)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "migration_id: no manifest prepared yet; call Prepare first"));
        }

        await store.Gate.WaitAsync(context.CancellationToken);
        try
        {
            // Checked again under the gate: a concurrent Commit may have consumed the token meanwhile.
            Authorize(request.MigrationId, request.Token);
            var manifest = store.Manifest!;
            if (!request.ManifestHash.Span.SequenceEqual(manifest.Hash))
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "manifest_hash: not the hash of the last prepared manifest"));
            }

            var missing = store.Missing();
            if (missing.Count > 0)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"manifest: {missing.Count} of {manifest.ChunkOrder.Count} chunks not received yet; Prepare and Push them first"));
            }

            var response = CheckpointUnpacker.Restore(store, manifest, _migrations.RestoreRoot, request.Destination);
            _authorizations.Consume(request.MigrationId);
            _migrations.Remove(request.MigrationId);
            LogCommitted(request.MigrationId, response.Path, manifest.TotalBytes);
            return response;
        }
        finally
        {
            store.Gate.Release();
        }
    }

    private long Authorize(string migrationId, string token)
    {
        if (!MigrationIds.IsValid(migrationId))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "migration_id: one path component of letters, digits, '.', '_' or '-'"));
        }

        return _authorizations.Check(migrationId, token);
    }

    [LoggerMessage(1, LogLevel.Debug, "Migration {MigrationId}: manifest of {Chunks} chunks ({Bytes} bytes), {Missing} missing")]
    private partial void LogPrepared(string migrationId, int chunks, int missing, long bytes);

    [LoggerMessage(2, LogLevel.Warning, "Migration {MigrationId}: chunk {Hash} ({Length} bytes) does not match its hash; not stored")]
    private partial void LogRejected(string migrationId, string hash, int length);

    [LoggerMessage(3, LogLevel.Information, "Migration {MigrationId}: restored {Bytes} bytes into {Path}")]
    private partial void LogCommitted(string migrationId, string path, long bytes);
}
