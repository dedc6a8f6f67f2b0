namespace Scheduler.Worker.Agents;

/// <summary>
/// The unprivileged account agents run as when the worker runs as root: a job is arbitrary code, and
/// as root it could read every other agent's folder, the worker's keys and the host. The worker still
/// prepares each agent as root (its cgroup, its log files), then drops to this user just before the
/// command runs.
/// </summary>
internal sealed record AgentUser(string Name, uint Uid, uint Gid)
{
    /// <summary>As root: <see cref="Dedicated"/> if the host has it, else <see cref="Fallback"/>; otherwise the worker's own user.</summary>
    public const string Auto = "auto";

    /// <summary>Agents run as the worker's own user, root included.</summary>
    public const string Off = "off";

    /// <summary>The account an operator creates for agents (preferred by <see cref="Auto"/>).</summary>
    public const string Dedicated = "scheduler-agent";

    public const string Fallback = "nobody";

    /// <summary>
    /// What <c>--agent-user</c> means on this host: the user to switch to, or null to run agents as the
    /// worker's own user; an error when the setting cannot be honoured (then the worker refuses to start,
    /// rather than run jobs with more privilege than the operator asked for).
    /// </summary>
    public static (AgentUser? User, string? Error) Resolve(string? setting, uint workerUid, bool canSwitch, Func<string, AgentUser?> lookup)
    {
        var name = string.IsNullOrWhiteSpace(setting) ? Auto : setting.Trim();
        if (name == Off)
        {
            return (null, null);
        }

        if (name == Auto)
        {
            if (workerUid != 0)
            {
                return (null, null);
            }

            var user = lookup(Dedicated) ?? lookup(Fallback);
            return user is null
                ? (null, $"--agent-user auto: the worker runs as root and this host has neither a '{Dedicated}' nor a '{Fallback}' user; create one, name another with --agent-user NAME, or run agents as root with --agent-user off")
                : Checked(user, canSwitch);
        }

        if (lookup(name) is not { } named)
        {
            return (null, $"--agent-user {name}: no such user on this host (or 'auto' / 'off')");
        }

        if (named.Uid == workerUid)
        {
            // Already that user: nothing to switch.
            return (null, null);
        }

        return workerUid != 0
            ? (null, $"--agent-user {name}: switching to another user needs the worker to run as root (it runs as uid {workerUid}); use --agent-user off")
            : Checked(named, canSwitch);
    }

    private static (AgentUser? User, string? Error) Checked(AgentUser user, bool canSwitch) =>
        user.Uid == 0
            ? (null, null)
            : canSwitch
                ? (user, null)
                : (null, $"--agent-user {user.Name}: switching users needs {AgentLauncher.SetPriv} (util-linux), which this host lacks; install it or use --agent-user off");

    /// <summary>The account named <paramref name="name"/> on this host, from the system's user database.</summary>
    public static AgentUser? Lookup(string name) =>
        Posix.TryGetUser(name, out var uid, out var gid) ? new AgentUser(name, uid, gid) : null;

    /// <summary>The arguments that make <c>setpriv</c> run the rest of its command line as this user.</summary>
    public IEnumerable<string> SetPrivArguments() =>
    [
        $"--reuid={Uid}", $"--regid={Gid}", "--clear-groups",

        // Changing credentials clears the parent-death signal: set it again for the agent itself.
        "--pdeathsig", "KILL",
        "--",
    ];
}
