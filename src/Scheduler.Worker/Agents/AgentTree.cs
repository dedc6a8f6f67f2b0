using System.Text;

namespace Scheduler.Worker.Agents;

/// <summary>
/// Every process that belongs to one agent: the session the agent leads, its cgroup where the host
/// gives it one, and any process carrying its token in the environment. The token is what a
/// process that left the session (setsid, a daemonizing fork) cannot shed without clearing its
/// whole environment, so the tree can be found and killed without cgroups and after the worker died.
/// </summary>
internal sealed record AgentTree(int Pid, string Token, string? Cgroup)
{
    /// <summary>The variable every agent process inherits.</summary>
    public const string TokenVariable = "SCHEDULER_AGENT_TOKEN";

    private const int MaxRounds = 8;

    /// <summary>
    /// SIGKILL to the agent's cgroup and session. With <paramref name="everywhere"/> also to every
    /// process carrying its token, repeated until a scan finds none (a fork during the kill is caught
    /// by the next round): the fencing path, where nothing may survive.
    /// </summary>
    public void Kill(bool everywhere)
    {
        for (var round = 0; round < MaxRounds; round++)
        {
            var found = KillCgroup();
            if (Pid > 0)
            {
                Posix.SignalGroup(Pid, Posix.SigKill);
            }

            if (!everywhere)
            {
                return;
            }

            foreach (var pid in FindByToken())
            {
                found = true;
                Posix.Signal(pid, Posix.SigKill);
            }

            if (!found)
            {
                return;
            }

            Thread.Sleep(5 * (round + 1));
        }
    }

    /// <summary>Processes whose environment holds this agent's token (zombies have none: they are already dead).</summary>
    public IReadOnlyList<int> FindByToken()
    {
        var needle = Encoding.UTF8.GetBytes($"{TokenVariable}={Token}\0");
        var found = new List<int>();
        foreach (var dir in EnumerateProcesses())
        {
            try
            {
                var environ = File.ReadAllBytes(Path.Combine("/proc", dir.ToString(System.Globalization.CultureInfo.InvariantCulture), "environ"));
                if (Contains(environ, needle))
                {
                    found.Add(dir);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone or not ours to read.
            }
        }

        return found;
    }

    private bool KillCgroup()
    {
        if (Cgroup is null || !Directory.Exists(Cgroup))
        {
            return false;
        }

        var procs = AgentCgroups.ReadProcs(Cgroup);
        if (procs.Count == 0)
        {
            return false;
        }

        if (!AgentCgroups.TryWrite(Path.Combine(Cgroup, "cgroup.kill"), "1"))
        {
            foreach (var pid in procs)
            {
                Posix.Signal(pid, Posix.SigKill);
            }
        }

        return true;
    }

    private static IEnumerable<int> EnumerateProcesses()
    {
        var self = Environment.ProcessId;
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var pid) && pid != self)
            {
                yield return pid;
            }
        }
    }

    private static bool Contains(byte[] environ, byte[] needle)
    {
        // Entries are NUL-separated: match only at the start of one.
        var span = environ.AsSpan();
        var index = 0;
        while (index < span.Length)
        {
            var hit = span[index..].IndexOf(needle);
            if (hit < 0)
            {
                return false;
            }

            var at = index + hit;
            if (at == 0 || span[at - 1] == 0)
            {
                return true;
            }

            index = at + 1;
        }

        return false;
    }
}
