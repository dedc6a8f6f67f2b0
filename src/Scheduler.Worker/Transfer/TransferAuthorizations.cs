using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// One-time tokens the master issues per migration: a peer may prepare, push and commit only the
/// migration it was allowed, within its byte budget and before the expiry; a successful Commit
/// consumes the token. Only the token's SHA-256 is kept, and it is compared in constant time.
/// </summary>
internal sealed class TransferAuthorizations
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Grant> _grants = new(StringComparer.Ordinal);

    public TransferAuthorizations(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>Allows (or re-allows, with a new token) one migration into this worker.</summary>
    public void Allow(string migrationId, string token, long maxBytes, DateTimeOffset expiry)
    {
        MigrationIds.Check(migrationId);
        ArgumentException.ThrowIfNullOrEmpty(token);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        lock (_lock)
        {
            PurgeExpired_NeedsLock();
            _grants[migrationId] = new Grant(Digest(token), maxBytes, expiry);
        }
    }

    /// <summary>Withdraws a migration's token (the master gave up on it).</summary>
    public void Revoke(string migrationId)
    {
        lock (_lock)
        {
            _grants.Remove(migrationId);
        }
    }

    /// <summary>The migration's byte budget when <paramref name="token"/> is its live token; otherwise throws the gRPC status to answer.</summary>
    public long Check(string migrationId, string token)
    {
        if (string.IsNullOrEmpty(token))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "token: required"));
        }

        var digest = Digest(token);
        Grant? grant;
        lock (_lock)
        {
            _grants.TryGetValue(migrationId, out grant);
        }

        // Hash compared even for an unknown migration, so timing tells nothing about which ids exist.
        var matches = CryptographicOperations.FixedTimeEquals(digest, grant?.Digest ?? new byte[digest.Length]);
        if (grant is null || !matches)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "token: not valid for this migration_id (unknown, wrong or already used)"));
        }

        if (_time.GetUtcNow() >= grant.Expiry)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "token: expired"));
        }

        return grant.MaxBytes;
    }

    /// <summary>Consumes the migration's token (checked by the caller): used once, by the Commit that succeeded.</summary>
    public void Consume(string migrationId)
    {
        lock (_lock)
        {
            _grants.Remove(migrationId);
        }
    }

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private void PurgeExpired_NeedsLock()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, grant) in _grants.Where(g => g.Value.Expiry <= now).ToList())
        {
            _grants.Remove(id);
        }
    }

    private sealed record Grant(byte[] Digest, long MaxBytes, DateTimeOffset Expiry);
}
