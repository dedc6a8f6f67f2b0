using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Scheduler.Master.Leadership;

/// <summary>
/// gRPC health: SERVING only on the leader while its lease holds. A standby, or a leader that lost
/// etcd, reports NOT_SERVING, so a load balancer or probe sends traffic to the one master that acts.
/// </summary>
internal sealed class LeaderHealthCheck(MasterRole role) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(role.IsServing
            ? HealthCheckResult.Healthy($"leading on {role.StoreKind}")
            : HealthCheckResult.Unhealthy(role.Leader is { } leader ? $"standby; the leader is {leader.MasterId} at {leader.Address}" : "standby; no leader known (election under way, or the store is unreachable)"));
}
