using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Scheduler.Worker.Agents;

/// <summary>
/// A cgroup v2 per agent, where the host lets this worker create them: the whole tree of an agent
/// is then one `cgroup.kill` away, whatever it forked or however it detached, and CPU and memory
/// limits apply where the cpu and memory controllers are delegated. Where cgroups are unavailable
/// (no cgroup2 mount, no write access) <see cref="Root"/> is null and agents run without one.
/// </summary>
internal sealed class AgentCgroups
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> s_delegated = new(StringComparer.Ordinal);
    private readonly bool _cpu;
    private readonly bool _memory;

    /// <summary>Agent cgroups under <paramref name="root"/> (null: none), with the controllers delegated there.</summary>
    internal AgentCgroups(string? root, bool cpu, bool memory)
    {
        Root = root;
        _cpu = cpu;
        _memory = memory;
    }

    /// <summary>This worker's folder of agent cgroups, or null when agents get none.</summary>
    public string? Root { get; }

    /// <summary>The cpu controller is delegated: agents get a CPU quota.</summary>
    public bool CpuLimits => Root is not null && _cpu;

    /// <summary>The memory controller is delegated: agents get a memory limit.</summary>
    public bool MemoryLimits => Root is not null && _memory;

    /// <summary>
    /// Finds the cgroup2 hierarchy and makes a folder for this worker's agents beside the worker's own
    /// cgroup. The folder is named after the data folder, so two workers never share one, and what a
    /// previous run of this worker left there (it died before cleaning up) is killed and removed.
    /// </summary>
    public static AgentCgroups Create(string nodeId, string dataDir)
    {
        var mount = FindMount();
        var own = OwnPath();
        if (mount is null || own is null)
        {
            return new AgentCgroups(null, false, false);
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(dataDir))))[..10];
        var parent = Path.Combine(mount + own.TrimEnd('/'), "scheduler-agents");
        var root = Path.Combine(parent, $"{Sanitize(nodeId)}-{hash}");
        try
        {
            Directory.CreateDirectory(root);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new AgentCgroups(null, false, false);
        }

        // Delegating controllers fails where the host keeps them (cgroup v1, no delegation): no limits then.
        // The parent is shared by every worker of the host: asked once per process (the kernel walks
        // all its children on each write: 20 ms a node among 36,000 leftovers, hours for 10,000 nodes).
        DelegateOnce(Path.Combine(parent, "cgroup.subtree_control"));
        TryWrite(Path.Combine(root, "cgroup.subtree_control"), "+cpu +memory");
        var controllers = File.Exists(Path.Combine(root, "cgroup.subtree_control"))
            ? File.ReadAllText(Path.Combine(root, "cgroup.subtree_control"))
            : "";
        var cgroups = new AgentCgroups(root, controllers.Contains("cpu", StringComparison.Ordinal), controllers.Contains("memory", StringComparison.Ordinal));
        cgroups.RemoveLeftovers();
        return cgroups;
    }

    /// <summary>A new cgroup for one agent, with its limits; null when there is none to make.</summary>
    public string? CreateFor(AgentKey key, long cpuMillis, long memoryMib)
    {
        if (Root is null)
        {
            return null;
        }

        var path = Path.Combine(Root, $"{key.JobId}.{key.Attempt.ToString(CultureInfo.InvariantCulture)}");
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (_memory && memoryMib > 0)
        {
            TryWrite(Path.Combine(path, "memory.max"), (memoryMib * 1024 * 1024).ToString(CultureInfo.InvariantCulture));
        }

        if (_cpu && cpuMillis > 0)
        {
            // Quota per 100 ms period: 1000 millicores is one full CPU.
            TryWrite(Path.Combine(path, "cpu.max"), $"{(cpuMillis * 100).ToString(CultureInfo.InvariantCulture)} 100000");
        }

        return path;
    }

    /// <summary>
    /// Removes this worker's folder of agent cgroups when it stops, if it is empty (an agent still in
    /// one keeps it; the next start kills and removes what is left). Left behind, every run of a
    /// worker with a new data folder added one more, and a host gathered tens of thousands.
    /// </summary>
    public void RemoveRoot() => Remove(Root);

    /// <summary>Writes "+cpu +memory" to <paramref name="subtreeControl"/> the first time this process asks; later calls return what the first did.</summary>
    internal static bool DelegateOnce(string subtreeControl) =>
        s_delegated.GetOrAdd(subtreeControl, file => TryWrite(file, "+cpu +memory"));

    /// <summary>Removes an agent's cgroup once it is empty (the kernel refuses while a process is in it).</summary>
    public static void Remove(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            Directory.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    public static IReadOnlyList<int> ReadProcs(string cgroup)
    {
        try
        {
            return File.ReadAllLines(Path.Combine(cgroup, "cgroup.procs"))
                .Select(l => int.TryParse(l, out var pid) ? pid : 0)
                .Where(p => p > 0)
                .ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public static bool TryWrite(string file, string value)
    {
        try
        {
            File.WriteAllText(file, value);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private void RemoveLeftovers()
    {
        foreach (var dir in Directory.EnumerateDirectories(Root!))
        {
            new AgentTree(0, "", dir).Kill(everywhere: false);
            for (var i = 0; i < 50 && ReadProcs(dir).Count > 0; i++)
            {
                Thread.Sleep(10);
            }

            Remove(dir);
        }
    }

    private static string? FindMount()
    {
        try
        {
            // mountinfo: ... mount-point ... - fstype source options
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                var parts = line.Split(' ');
                var dash = Array.IndexOf(parts, "-");
                if (dash > 4 && dash + 1 < parts.Length && parts[dash + 1] == "cgroup2")
                {
                    return parts[4];
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    private static string? OwnPath()
    {
        try
        {
            // The unified hierarchy's line is "0::/path".
            return File.ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Sanitize(string value) =>
        new(value.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').Take(64).ToArray());
}
