namespace Scheduler.Worker.Agents;

/// <summary>
/// An unprivileged account agents run as when the worker runs as root: a job is arbitrary code, and
/// as root it could read every other agent's folder, the worker's keys and the host. The worker still
/// prepares each agent as root (its cgroup, its log files), then drops to this user just before the
/// command runs. By default each agent gets a numeric id of its own (<see cref="AgentUidPool"/>).
/// </summary>
internal sealed record AgentUser(string Name, uint Uid, uint Gid)
{
    /// <summary>As root: an id of its own for each agent (<see cref="AgentUidPool"/>); otherwise the worker's own user.</summary>
    public const string Auto = "auto";

    /// <summary>Agents run as the worker's own user, root included.</summary>
    public const string Off = "off";

    /// <summary>The owner the worker takes an agent's folders back as once the agent's id is returned.</summary>
    public static AgentUser Root { get; } = new("root", 0, 0);

    /// <summary>
    /// What <c>--agent-user</c> means on this host: one user to switch every agent to, or an id of its
    /// own per agent (<c>PerAgent</c>), or neither to run agents as the worker's own user; an error when
    /// the setting cannot be honoured (then the worker refuses to start, rather than run jobs with more
    /// privilege than the operator asked for).
    /// </summary>
    public static (AgentUser? User, bool PerAgent, string? Error) Resolve(string? setting, uint workerUid, bool canSwitch, Func<string, AgentUser?> lookup)
    {
        var name = string.IsNullOrWhiteSpace(setting) ? Auto : setting.Trim();
        if (name == Off)
        {
            return (null, false, null);
        }

        if (name == Auto)
        {
            if (workerUid != 0)
            {
                return (null, false, null);
            }

            return canSwitch
                ? (null, true, null)
                : (null, false, $"--agent-user auto: switching users needs {AgentLauncher.SetPriv} (util-linux), which this host lacks; install it or use --agent-user off");
        }

        if (lookup(name) is not { } named)
        {
            return (null, false, $"--agent-user {name}: no such user on this host (or 'auto' / 'off')");
        }

        if (named.Uid == workerUid)
        {
            // Already that user: nothing to switch.
            return (null, false, null);
        }

        return workerUid != 0
            ? (null, false, $"--agent-user {name}: switching to another user needs the worker to run as root (it runs as uid {workerUid}); use --agent-user off")
            : Checked(named, canSwitch);
    }

    private static (AgentUser? User, bool PerAgent, string? Error) Checked(AgentUser user, bool canSwitch) =>
        user.Uid == 0
            ? (null, false, null)
            : canSwitch
                ? (user, false, null)
                : (null, false, $"--agent-user {user.Name}: switching users needs {AgentLauncher.SetPriv} (util-linux), which this host lacks; install it or use --agent-user off");

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
