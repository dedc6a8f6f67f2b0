using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// What a caller may see of the jobs: a submitter its token's tenant only, everyone else (and
/// every caller while auth is off) all of them. Another tenant's job answers NOT_FOUND, exactly as a
/// job that does not exist, so a submitter cannot learn which ids are taken.
/// </summary>
internal readonly record struct TenantScope(string? Tenant)
{
    /// <summary>The tenant a job belongs to: its spec's, "default" when empty (as quotas count it).</summary>
    public static string TenantOf(JobSpec spec) => spec.Tenant.Length == 0 ? "default" : spec.Tenant;

    public static TenantScope Of(ServerCallContext context) =>
        new(CallerIdentity.Of(context) is { Role: Role.Submitter, Tenant: { } tenant } ? tenant : null);

    public bool IsUnrestricted => Tenant is null;

    public bool Sees(JobRecord job) => Tenant is null || string.Equals(TenantOf(job.Spec), Tenant, StringComparison.Ordinal);

    public bool Sees(Job job) => Tenant is null || string.Equals(TenantOf(job.Spec), Tenant, StringComparison.Ordinal);

    /// <summary>
    /// Binds a submission to the caller's tenant: an empty spec.tenant is set to it, a different one
    /// is refused (PERMISSION_DENIED naming spec.tenant) rather than silently rewritten, so a script
    /// that believes it submits for another tenant learns at once that it does not.
    /// </summary>
    public void Bind(JobSpec spec)
    {
        if (Tenant is null)
        {
            return;
        }

        if (spec.Tenant.Length > 0 && !string.Equals(spec.Tenant, Tenant, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"spec.tenant: '{spec.Tenant}' is not this token's tenant ('{Tenant}'); leave it empty or set it to '{Tenant}'"));
        }

        spec.Tenant = Tenant;
    }

    public static RpcException NotFound(string id) => new(new Status(StatusCode.NotFound, $"job '{id}' not found"));
}
