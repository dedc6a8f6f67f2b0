using Grpc.Core;

namespace Scheduler.Master.Security;

/// <summary>
/// Who made a call, as the interceptor established it: a bearer token (its id and name) or a
/// verified client certificate (<c>CN=node:NAME</c>). Services read it for tenant scoping.
/// </summary>
internal sealed record CallerIdentity(string Id, string Name, Role Role, string? Tenant, string? NodeId)
{
    private const string Key = "scheduler.identity";

    /// <summary>How the audit log names the caller: <c>token ID (NAME)</c> or <c>cert:node:NAME</c>.</summary>
    public string Who => Id.StartsWith("cert:", StringComparison.Ordinal) ? Id : $"token {Id} ({Name})";

    /// <summary>True for a worker known by its client certificate rather than by a token.</summary>
    public bool IsCertificate => Id.StartsWith("cert:", StringComparison.Ordinal);

    /// <summary>The identity of the call, or null when auth is off (the caller is then unrestricted).</summary>
    public static CallerIdentity? Of(ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var value) ? value as CallerIdentity : null;

    public void AttachTo(ServerCallContext context) => context.UserState[Key] = this;
}
