namespace Scheduler.Master.Security;

/// <summary>What a caller may do; a token or certificate carries exactly one.</summary>
internal enum Role
{
    /// <summary>Everything, tokens included.</summary>
    Admin,

    /// <summary>Nodes, drains, migrations, cluster status, and reading every tenant's jobs.</summary>
    Operator,

    /// <summary>Its own tenant's jobs only.</summary>
    Submitter,

    /// <summary>The worker gateway only.</summary>
    Worker,
}

/// <summary>The wire names of <see cref="Role"/>, as tokens and the role table spell them.</summary>
internal static class RoleNames
{
    public const string Admin = "admin";
    public const string Operator = "operator";
    public const string Submitter = "submitter";
    public const string Worker = "worker";

    public static string Of(Role role) => role switch
    {
        Role.Admin => Admin,
        Role.Operator => Operator,
        Role.Submitter => Submitter,
        _ => Worker,
    };

    public static bool TryParse(string text, out Role role)
    {
        switch (text)
        {
            case Admin:
                role = Role.Admin;
                return true;
            case Operator:
                role = Role.Operator;
                return true;
            case Submitter:
                role = Role.Submitter;
                return true;
            case Worker:
                role = Role.Worker;
                return true;
            default:
                role = default;
                return false;
        }
    }
}
