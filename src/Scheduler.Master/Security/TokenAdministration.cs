using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>Creating, listing and revoking tokens (the Admin RPCs), validated at the edge and audited.</summary>
internal sealed class TokenAdministration
{
    public const int MaxNameLength = 128;
    private readonly ITokenStore _store;
    private readonly AuditLog _audit;
    private readonly TimeProvider _time;
    private readonly OpenStreams? _open;

    public TokenAdministration(ITokenStore store, AuditLog audit, TimeProvider time, OpenStreams? open = null)
    {
        _store = store;
        _audit = audit;
        _time = time;
        _open = open;
    }

    public async Task<CreateTokenResponse> CreateAsync(CreateTokenRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > MaxNameLength || request.Name.Any(char.IsControl))
        {
            throw Invalid("name", $"is required: 1 to {MaxNameLength} printable characters");
        }

        if (!RoleNames.TryParse(request.Role, out var role))
        {
            throw Invalid("role", $"must be {RoleNames.Admin}, {RoleNames.Operator}, {RoleNames.Submitter} or {RoleNames.Worker} (got '{request.Role}')");
        }

        if (role == Role.Submitter && request.Tenant.Length == 0)
        {
            throw Invalid("tenant", "is required for a submitter token: its jobs belong to that tenant");
        }

        if (role != Role.Submitter && request.Tenant.Length > 0)
        {
            throw Invalid("tenant", $"only submitter tokens have a tenant (role {request.Role} sees every tenant it may see)");
        }

        if (request.Tenant.Length > Validation.JobSpecValidator.MaxTenantLength || request.Tenant.Any(char.IsControl))
        {
            throw Invalid("tenant", $"must be at most {Validation.JobSpecValidator.MaxTenantLength} printable characters");
        }

        var (id, bearer, hash) = TokenSecret.Generate();
        var record = new TokenRecord { Id = id, Name = request.Name, Role = RoleNames.Of(role), Tenant = request.Tenant, SecretHash = hash, CreatedAt = _time.GetUtcNow() };
        if (!await _store.CreateAsync(record, context.CancellationToken))
        {
            throw new RpcException(new Status(StatusCode.Aborted, "a token with the same random id exists; create again"));
        }

        _audit.Write(Who(context), context.Method, id, "ok", $"created {record.Role} token '{record.Name}'" + (record.Tenant.Length > 0 ? $" for tenant {record.Tenant}" : ""));
        return new CreateTokenResponse { Token = ToProto(record), Secret = bearer };
    }

    public async Task<ListTokensResponse> ListAsync(ServerCallContext context)
    {
        var response = new ListTokensResponse();
        response.Tokens.Add((await _store.ListAsync(context.CancellationToken)).Select(ToProto));
        return response;
    }

    public async Task<AccessToken> RevokeAsync(RevokeTokenRequest request, ServerCallContext context)
    {
        Services.JobsService.RequireId(request.Id, "id");
        var token = await _store.RevokeAsync(request.Id, _time.GetUtcNow(), context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"token '{request.Id}' not found"));
        var ended = _open?.Revoke(token.Id) ?? 0;
        _audit.Write(Who(context), context.Method, token.Id, "ok", $"revoked token '{token.Name}'" + (ended > 0 ? $"; ended its {ended} open streams here" : ""));
        return ToProto(token);
    }

    /// <summary>Every token as the store keeps it (hashes, never secrets), for a snapshot.</summary>
    public Task<IReadOnlyList<TokenRecord>> AllAsync(CancellationToken cancellationToken) => _store.ListAsync(cancellationToken);

    /// <summary>
    /// Stores a restored snapshot's tokens: each one the store lacks is added as it was; one it has (the
    /// bootstrap token of the restoring master, say) is kept, and revoked if the snapshot says it was.
    /// Returns how many were added.
    /// </summary>
    public async Task<int> RestoreAsync(IReadOnlyList<TokenRecord> tokens, ServerCallContext context)
    {
        var added = 0;
        foreach (var token in tokens)
        {
            if (await _store.CreateAsync(token, context.CancellationToken))
            {
                added++;
            }

            // A store keeps a new token unrevoked: its revocation is written as one.
            if (token.RevokedAt is { } at)
            {
                await _store.RevokeAsync(token.Id, at, context.CancellationToken);
                _open?.Revoke(token.Id);
            }
        }

        _audit.Write(Who(context), context.Method, null, "ok", $"restored {added} of the snapshot's {tokens.Count} tokens");
        return added;
    }

    public static AccessToken ToProto(TokenRecord token) => new()
    {
        Id = token.Id,
        Name = token.Name,
        Role = token.Role,
        Tenant = token.Tenant,
        CreatedAt = Timestamp.FromDateTimeOffset(token.CreatedAt),
        Revoked = token.RevokedAt is not null,
        RevokedAt = token.RevokedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
    };

    private static string Who(ServerCallContext context) => CallerIdentity.Of(context)?.Who ?? "anonymous (auth off)";

    private static RpcException Invalid(string field, string message) =>
        new(new Status(StatusCode.InvalidArgument, $"{field}: {message}"));
}
