using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The target side of a checkpoint transfer (see checkpoint_transfer.proto). Every call is checked
/// against the migration's token first; manifests are validated before anything is stored, chunks
/// are verified before they are written into the staging tree, and Commit renames that tree in.
/// </summary>
internal sealed partial class CheckpointTransferService : CheckpointTransfer.CheckpointTransferBase
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

    public override async Task<PushResponse> Push(IAsyncStreamReader<ChunkMessage> requestStream, ServerCallContext context)
    {
        var response = new PushResponse();
        MigrationStore? store = null;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            var chunk = requestStream.Current;
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

            var hex = ChunkHash.Hex(chunk.Hash);

            // Only chunks of the prepared manifest are kept: this bounds the store by the manifest, hence by the budget.
            var expected = store.ExpectedLength(hex)
                ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, $"hash: {hex} is not a chunk of the prepared manifest"));
            if (chunk.Data.Length != expected || !ChunkHash.Matches(chunk.Data.Span, chunk.Hash.Span))
            {
                LogRejected(store.MigrationId, hex, chunk.Data.Length);
                response.Rejected.Add(chunk.Hash);
                continue;
            }

            store.Put(hex, chunk.Data.Span);
            response.Received++;
        }

        return response;
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
