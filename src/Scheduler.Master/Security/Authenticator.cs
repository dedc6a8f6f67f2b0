using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// Establishes who is calling: a verified client certificate whose subject is <c>CN=node:NAME</c>
/// is the worker NAME (Kestrel has already checked it against the cluster CA when TLS is on), else
/// an <c>authorization: Bearer ID.SECRET</c> header is looked up in the token store, on every call.
/// </summary>
internal sealed class Authenticator
{
    private const string NodePrefix = "node:";
    private readonly ITokenStore _tokens;

    public Authenticator(ITokenStore tokens) => _tokens = tokens;

    /// <summary>The caller, or an UNAUTHENTICATED refusal saying why.</summary>
    public async Task<(CallerIdentity? Identity, string Refusal)> AuthenticateAsync(ServerCallContext context)
    {
        if (NodeFromCertificate(context) is { } node)
        {
            return (new CallerIdentity($"cert:{NodePrefix}{node}", NodePrefix + node, Role.Worker, null, node), "");
        }

        return await AuthenticateBearerAsync(context.RequestHeaders.GetValue("authorization"), context.CancellationToken);
    }

    /// <summary>The caller an <c>authorization</c> header's bearer token names, or the refusal; tokens only (the HTTP listeners have no TLS).</summary>
    public async Task<(CallerIdentity? Identity, string Refusal)> AuthenticateBearerAsync(string? header, CancellationToken cancellationToken)
    {
        if (header is null)
        {
            return (null, "no credentials: send \"authorization: Bearer <token>\" (schedctl --token, env SCHED_TOKEN)");
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || !TokenSecret.TryParse(header[7..].Trim(), out var id, out var secret))
        {
            return (null, "the authorization header is not \"Bearer <token>\" with a token this cluster issued");
        }

        var token = await _tokens.FindAsync(id, cancellationToken);
        if (token is null || !TokenSecret.Matches(secret, token.SecretHash))
        {
            return (null, "unknown token");
        }

        if (token.RevokedAt is not null)
        {
            return (null, $"token {token.Id} was revoked");
        }

        if (!RoleNames.TryParse(token.Role, out var role))
        {
            return (null, $"token {token.Id} has no known role");
        }

        return (new CallerIdentity(token.Id, token.Name, role, role == Role.Submitter ? token.Tenant : null, null), "");
    }

    /// <summary>NAME from a client certificate with subject CN "node:NAME"; null without one.</summary>
    private static string? NodeFromCertificate(ServerCallContext context)
    {
        X509Certificate2? certificate;
        try
        {
            certificate = context.GetHttpContext().Connection.ClientCertificate;
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        var cn = certificate?.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return cn is { Length: > 5 } && cn.StartsWith(NodePrefix, StringComparison.Ordinal) ? cn[NodePrefix.Length..] : null;
    }
}
