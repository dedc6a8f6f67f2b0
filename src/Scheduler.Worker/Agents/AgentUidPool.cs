using System.Globalization;

namespace Scheduler.Worker.Agents;

/// <summary>
/// Gives each running agent a numeric user and group id of its own from a range (no user database
/// entry needed: setpriv switches to bare numbers), so one agent cannot read another's folders even
/// when both belong to the same worker. An id goes back to the pool only once its agent has exited
/// and the master has recorded it; it is handed out again only when no process of the host runs as
/// it and no other worker on the host holds it (a lock file per id, held while the agent lives).
/// </summary>
internal sealed class AgentUidPool : IDisposable
{
    /// <summary>The default range: above any distribution's users and below the 32-bit "nobody" ids.</summary>
    public const string DefaultRange = "2000000-2065535";

    private readonly Lock _lock = new();
    private readonly Dictionary<AgentKey, Claim> _held = [];
    private readonly uint _first;
    private readonly uint _last;
    private readonly string _lockDirectory;
    private readonly Func<uint, bool> _hasProcesses;
    private uint _next;

    public AgentUidPool(uint first, uint last, string lockDirectory, Func<uint, bool> hasProcesses)
    {
        _first = first;
        _last = last;
        _next = first;
        _lockDirectory = lockDirectory;
        _hasProcesses = hasProcesses;
    }

    /// <summary>The folder where the worker processes of a host claim ids: one lock file per id.</summary>
    public static string HostLockDirectory =>
        Directory.Exists("/run") ? "/run/scheduler-agent-uids" : Path.Combine(Path.GetTempPath(), "scheduler-agent-uids");

    /// <summary>Ids currently held by this pool's agents.</summary>
    public int HeldCount
    {
        get
        {
            lock (_lock)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>Parses <c>FIRST-LAST</c> (inclusive; 1 &lt;= FIRST &lt;= LAST &lt; 4294967295); an error names the flag.</summary>
    public static (uint First, uint Last, string? Error) ParseRange(string? text)
    {
        var value = string.IsNullOrWhiteSpace(text) ? DefaultRange : text.Trim();
        var parts = value.Split('-');
        if (parts.Length == 2
            && uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            && first >= 1 && first <= last && last < uint.MaxValue)
        {
            return (first, last, null);
        }

        return (0, 0, $"--agent-uid-range '{value}': expected FIRST-LAST with 1 <= FIRST <= LAST < 4294967295, e.g. {DefaultRange}");
    }

    /// <summary>The user the agent of <paramref name="key"/> runs as (the same one again for a repeated call).</summary>
    public AgentUser Acquire(AgentKey key)
    {
        lock (_lock)
        {
            if (_held.TryGetValue(key, out var existing))
            {
                return existing.User;
            }

            Directory.CreateDirectory(_lockDirectory);
            var count = (ulong)_last - _first + 1;
            for (ulong tried = 0; tried < count; tried++)
            {
                var uid = _next;
                _next = _next == _last ? _first : _next + 1;
                if (_held.Values.Any(c => c.User.Uid == uid) || _hasProcesses(uid) || TryClaim(uid) is not { } file)
                {
                    continue;
                }

                var user = new AgentUser($"agent-{uid}", uid, uid);
                _held[key] = new Claim(user, file);
                return user;
            }

            throw new AgentStartException($"no free agent uid in {_first}-{_last} (--agent-uid-range): every id is held by a live agent or process");
        }
    }

    /// <summary>The id the agent of <paramref name="key"/> holds, or null.</summary>
    public AgentUser? Holding(AgentKey key)
    {
        lock (_lock)
        {
            return _held.TryGetValue(key, out var claim) ? claim.User : null;
        }
    }

    /// <summary>Gives the id of <paramref name="key"/> back; returns it, or null when the agent held none.</summary>
    public AgentUser? Release(AgentKey key)
    {
        Claim? claim;
        lock (_lock)
        {
            if (!_held.Remove(key, out claim))
            {
                return null;
            }
        }

        claim.File.Dispose();
        return claim.User;
    }

    /// <summary>True when a process of this host runs with <paramref name="uid"/> as its real, effective, saved or file-system user.</summary>
    public static bool HostHasProcessesOf(uint uid)
    {
        var wanted = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
            {
                continue;
            }

            try
            {
                foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                {
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    {
                        if (line[4..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Contains(wanted))
                        {
                            return true;
                        }

                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
            }
        }

        return false;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var claim in _held.Values)
            {
                claim.File.Dispose();
            }

            _held.Clear();
        }
    }

    private FileStream? TryClaim(uint uid)
    {
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock): another worker on this host skips
            // the id while we hold it, and the kernel drops it if this worker dies.
            return new FileStream(Path.Combine(_lockDirectory, uid.ToString(CultureInfo.InvariantCulture)), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private sealed record Claim(AgentUser User, FileStream File);
}
