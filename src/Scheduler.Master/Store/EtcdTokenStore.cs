using System.Text;
using System.Text.Json;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Scheduler.Master.Store;

/// <summary>
/// The token table in etcd, one JSON value per token under <c>PREFIX/tokens/ID</c>. Reads are
/// linearizable (etcd's default), so a token revoked through any master is refused by every master
/// on its next call. Writes are not fenced by leadership: tokens belong to no term.
/// </summary>
internal sealed class EtcdTokenStore : ITokenStore, IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly EtcdClient _client;
    private readonly EtcdStoreOptions _options;
    private readonly string _prefix;

    public EtcdTokenStore(EtcdStoreOptions options)
    {
        _options = options;
        _client = new EtcdClient(options.Endpoints);
        _prefix = options.Prefix + "tokens/";
    }

    public async Task<TokenRecord?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var response = await CallAsync((deadline, ct) => _client.GetAsync(new RangeRequest { Key = Key(id) }, deadline: deadline, cancellationToken: ct), cancellationToken);
        return response.Kvs.Count == 0 ? null : Read(response.Kvs[0].Value);
    }

    public async Task<IReadOnlyList<TokenRecord>> ListAsync(CancellationToken cancellationToken)
    {
        // Tokens are few (people and hosts, not jobs): one range read.
        var request = new RangeRequest { Key = ByteString.CopyFromUtf8(_prefix), RangeEnd = PrefixEnd(_prefix) };
        var response = await CallAsync((deadline, ct) => _client.GetAsync(request, deadline: deadline, cancellationToken: ct), cancellationToken);
        return [.. response.Kvs.Select(kv => Read(kv.Value)).OrderBy(t => t.CreatedAt).ThenBy(t => t.Id, StringComparer.Ordinal)];
    }

    public async Task<bool> CreateAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = Key(token.Id), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 } },
            Success = { new RequestOp { RequestPut = new PutRequest { Key = Key(token.Id), Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(token, Json)) } } },
        };
        var response = await CallAsync((deadline, ct) => _client.TransactionAsync(txn, deadline: deadline, cancellationToken: ct), cancellationToken);
        return response.Succeeded;
    }

    public async Task<TokenRecord?> RevokeAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        // Compare-and-swap on the value's revision, so two revocations (or a revocation racing
        // nothing else, today) never lose an update.
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var current = await CallAsync((deadline, ct) => _client.GetAsync(new RangeRequest { Key = Key(id) }, deadline: deadline, cancellationToken: ct), cancellationToken);
            if (current.Kvs.Count == 0)
            {
                return null;
            }

            var token = Read(current.Kvs[0].Value);
            if (token.RevokedAt is not null)
            {
                return token;
            }

            var revoked = token with { RevokedAt = at };
            var txn = new TxnRequest
            {
                Compare = { new Compare { Key = Key(id), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = current.Kvs[0].ModRevision } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = Key(id), Value = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(revoked, Json)) } } },
            };
            if ((await CallAsync((deadline, ct) => _client.TransactionAsync(txn, deadline: deadline, cancellationToken: ct), cancellationToken)).Succeeded)
            {
                return revoked;
            }
        }

        throw new StoreException($"etcd key {_prefix}{id} kept changing while it was being revoked; try again");
    }

    public void Dispose() => _client.Dispose();

    private ByteString Key(string id) => ByteString.CopyFromUtf8(_prefix + id);

    private TokenRecord Read(ByteString value)
    {
        try
        {
            return JsonSerializer.Deserialize<TokenRecord>(value.Span, Json) ?? throw new JsonException("the token record is null");
        }
        catch (JsonException ex)
        {
            throw new StoreException($"a token under {_prefix} in etcd cannot be read ({ex.Message}): delete it and create the token again", ex);
        }
    }

    private async Task<T> CallAsync<T>(Func<DateTime, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(DateTime.UtcNow + _options.CallTimeout, cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode is not StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            throw new StoreUnavailableException($"etcd at {_options.Endpoints} did not answer the token read or write ({ex.StatusCode}: {ex.Status.Detail})", ex);
        }
    }

    private static ByteString PrefixEnd(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        bytes[^1]++;
        return ByteString.CopyFrom(bytes);
    }
}
