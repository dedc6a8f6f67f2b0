namespace Scheduler.Master.Security;

/// <summary>
/// Who may call one gRPC method (full name <c>/package.Service/Method</c>). <see cref="Public"/>
/// methods need no identity (health checks, reflection); otherwise a caller needs one of
/// <see cref="Roles"/>; an empty set means no caller at all (a service the master does not serve).
/// <see cref="TenantScoped"/> marks methods whose service also confines a submitter to its tenant.
/// </summary>
internal sealed record MethodRule(string Method, IReadOnlySet<Role> Roles, bool Public = false, bool TenantScoped = false)
{
    public bool Allows(Role role) => Public || Roles.Contains(role);
}
