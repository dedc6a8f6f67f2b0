using Scheduler.Master.Security;

namespace Scheduler.Master.Tests.Security;

/// <summary>The role table decides every method of every service: a new RPC cannot ship without a decision.</summary>
[TestFixture]
public sealed class RoleTableTests
{
    [Test]
    public void Every_method_of_every_service_has_a_rule()
    {
        var methods = RoleTable.Services.SelectMany(s => s.Methods).Select(RoleTable.FullName).ToList();
        var missing = methods.Where(m => RoleTable.For(m) is null).ToList();
        Assert.That(missing, Is.Empty, "add these to RoleTable (and the README's role table)");
        Assert.That(methods, Has.Count.GreaterThanOrEqualTo(25));
    }

    [Test]
    public void Every_service_the_contracts_define_is_covered()
    {
        var defined = new[]
        {
            Contracts.V1.JobsReflection.Descriptor, Contracts.V1.AdminReflection.Descriptor,
            Contracts.V1.WorkerGatewayReflection.Descriptor, Contracts.V1.CheckpointTransferReflection.Descriptor,
        }.SelectMany(f => f.Services).Select(s => s.FullName);
        Assert.That(RoleTable.Services.Select(s => s.FullName), Is.SupersetOf(defined));
    }

    [Test]
    public void The_table_has_no_rule_for_a_method_that_does_not_exist()
    {
        var methods = RoleTable.Services.SelectMany(s => s.Methods).Select(RoleTable.FullName).ToHashSet(StringComparer.Ordinal);
        Assert.That(RoleTable.Rules.Keys.Where(k => !methods.Contains(k)), Is.Empty);
    }

    [Test]
    public void Admin_may_call_every_method_the_master_serves()
    {
        var served = RoleTable.Rules.Values.Where(r => !r.Method.StartsWith("/scheduler.v1.CheckpointTransfer/", StringComparison.Ordinal));
        Assert.That(served.Where(r => !r.Allows(Role.Admin)).Select(r => r.Method), Is.Empty);
    }

    [Test]
    public void Workers_may_call_only_the_gateway_and_leader_lookup()
    {
        var allowed = RoleTable.Rules.Values.Where(r => !r.Public && r.Allows(Role.Worker)).Select(r => r.Method);
        Assert.That(allowed, Is.EquivalentTo(new[] { "/scheduler.v1.WorkerGateway/Connect", "/scheduler.v1.Admin/GetLeader" }));
    }

    [Test]
    public void Only_admins_manage_tokens_and_snapshots()
    {
        foreach (var method in new[] { "CreateToken", "ListTokens", "RevokeToken", "SaveSnapshot", "RestoreSnapshot" })
        {
            Assert.That(RoleTable.For($"/scheduler.v1.Admin/{method}")!.Roles, Is.EquivalentTo(new[] { Role.Admin }), method);
        }
    }

    [Test]
    public void Health_and_reflection_are_public_and_nothing_else_is()
    {
        var open = RoleTable.Rules.Values.Where(r => r.Public).Select(r => r.Method).ToList();
        Assert.That(open, Has.All.StartWith("/grpc."));
        Assert.That(open, Does.Contain("/grpc.health.v1.Health/Check"));
    }
}
