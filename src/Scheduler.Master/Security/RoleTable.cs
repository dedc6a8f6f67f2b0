using System.Collections.Frozen;
using Google.Protobuf.Reflection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Security;

/// <summary>
/// The one place that decides who may call what, keyed by the services' descriptors: a method
/// missing here is refused (PERMISSION_DENIED) and fails <c>RoleTableTests</c>, so adding an RPC
/// forces a decision. The README's role table is this table.
/// </summary>
internal static class RoleTable
{
    private static readonly Role[] Everyone = [Role.Admin, Role.Operator, Role.Submitter, Role.Worker];
    private static readonly Role[] Readers = [Role.Admin, Role.Operator, Role.Submitter];
    private static readonly Role[] Owners = [Role.Admin, Role.Submitter];
    private static readonly Role[] Operators = [Role.Admin, Role.Operator];
    private static readonly Role[] Admins = [Role.Admin];

    /// <summary>Every rule by full method name.</summary>
    public static FrozenDictionary<string, MethodRule> Rules { get; } = Build();

    /// <summary>The services whose every method must have a rule: those the master serves, and the workers' transfer service.</summary>
    public static IReadOnlyList<ServiceDescriptor> Services { get; } =
    [
        Jobs.Descriptor,
        Admin.Descriptor,
        WorkerGateway.Descriptor,
        CheckpointTransfer.Descriptor,
        Grpc.Health.V1.Health.Descriptor,
        Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
        Grpc.Reflection.V1.ServerReflection.Descriptor,
    ];

    /// <summary>The rule for a method, or null when the table makes no decision (the call is refused).</summary>
    public static MethodRule? For(string method) => Rules.GetValueOrDefault(method);

    public static string FullName(MethodDescriptor method) => $"/{method.Service.FullName}/{method.Name}";

    private static FrozenDictionary<string, MethodRule> Build()
    {
        var rules = new List<MethodRule>
        {
            // Submitters submit and act on their own tenant's jobs; operators read every job, act on none.
            Rule(Jobs.Descriptor, "Submit", Owners, tenantScoped: true),
            Rule(Jobs.Descriptor, "SubmitBatch", Owners, tenantScoped: true),
            Rule(Jobs.Descriptor, "Get", Readers, tenantScoped: true),
            Rule(Jobs.Descriptor, "List", Readers, tenantScoped: true),
            Rule(Jobs.Descriptor, "Cancel", Owners, tenantScoped: true),
            Rule(Jobs.Descriptor, "Watch", Readers, tenantScoped: true),
            Rule(Jobs.Descriptor, "GetLogs", Readers, tenantScoped: true),
            Rule(Jobs.Descriptor, "Suspend", Owners, tenantScoped: true),
            Rule(Jobs.Descriptor, "Resume", Owners, tenantScoped: true),

            Rule(Admin.Descriptor, "GetClusterStatus", Operators),
            Rule(Admin.Descriptor, "ListNodes", Operators),
            Rule(Admin.Descriptor, "DescribeNode", Operators),
            Rule(Admin.Descriptor, "CordonNode", Operators),
            Rule(Admin.Descriptor, "UncordonNode", Operators),
            Rule(Admin.Descriptor, "DrainNode", Operators),

            // Every client follows the leader with it, workers included.
            Rule(Admin.Descriptor, "GetLeader", Everyone),
            Rule(Admin.Descriptor, "MigrateJob", Operators),
            Rule(Admin.Descriptor, "SaveSnapshot", Admins),
            Rule(Admin.Descriptor, "RestoreSnapshot", Admins),

            // A submitter asks why its own job waits; the answer names nodes, never other tenants' jobs.
            Rule(Admin.Descriptor, "ExplainJob", Readers, tenantScoped: true),
            Rule(Admin.Descriptor, "CreateToken", Admins),
            Rule(Admin.Descriptor, "ListTokens", Admins),
            Rule(Admin.Descriptor, "RevokeToken", Admins),

            Rule(WorkerGateway.Descriptor, "Connect", [Role.Admin, Role.Worker]),

            // Served by workers, authorised there by the master's one-time migration token; never by the master.
            Rule(CheckpointTransfer.Descriptor, "Prepare", []),
            Rule(CheckpointTransfer.Descriptor, "Push", []),
            Rule(CheckpointTransfer.Descriptor, "Commit", []),
        };

        // Load balancers and orchestrators probe health without credentials; reflection only describes the public API.
        foreach (var open in new[] { Grpc.Health.V1.Health.Descriptor, Grpc.Reflection.V1Alpha.ServerReflection.Descriptor, Grpc.Reflection.V1.ServerReflection.Descriptor })
        {
            rules.AddRange(open.Methods.Select(m => new MethodRule(FullName(m), FrozenSet<Role>.Empty, Public: true)));
        }

        return rules.ToFrozenDictionary(r => r.Method, StringComparer.Ordinal);
    }

    private static MethodRule Rule(ServiceDescriptor service, string name, Role[] roles, bool tenantScoped = false)
    {
        var method = service.FindMethodByName(name) ?? throw new InvalidOperationException($"{service.FullName} has no method {name}");
        return new MethodRule(FullName(method), roles.ToFrozenSet(), TenantScoped: tenantScoped);
    }
}
