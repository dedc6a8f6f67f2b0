using System.Globalization;

namespace Scheduler.Worker.Agents;

/// <summary>
/// Gives each running agent a numeric user and group id of its own from a range (no user database
/// entry needed: setpriv switches to bare numbers), so one agent cannot read another's folders even
/// when both belong to the same worker. An id goes back to the pool only once its agent has exited
/// and the master has recorded it; it is handed out again only when no process of the host runs as
/// it and no other worker on the host holds it (a lock file per id, held while the agent lives).
/// </summary>
/// <remarks>
/// Which ids the host's processes run as is read from /proc once per <see cref="ScanMaxAge"/> (and again
/// before refusing a start), not once per start: scanning every process's status for each start, under the
/// pool's lock on the thread reading the master's commands, was a third of a worker process's CPU when
/// it started agents by the hundred (dotnet-trace of the simulation host in bench e2e) and held back its
/// heartbeats. An older scan is safe: no process can take an id this pool has not handed out since (only
/// root can, and other workers hold the id's lock file), and an id given back since the scan is not
/// handed out again until a scan taken after its return shows no process left running as it.
/// </remarks>
/// <remarks>
/// Which ids the host's processes run as is read from /proc once per <see cref="ScanMaxAge"/> (and again
/// before refusing a start), not once per start: scanning every process's status for each start, under the
/// pool's lock on the thread reading the master's commands, was a third of a worker process's CPU when
/// it started agents by the hundred (dotnet-trace of the simulation host in bench e2e) and held back its
/// heartbeats. An older scan is safe: no process can take an id this pool has not handed out since (only
/// root can, and other workers hold the id's lock file), and an id given back since the scan is not
/// handed out again until a scan taken after its return shows no process left running as it.
/// </remarks>
internal sealed class AgentUidPool : IDisposable
{
    /// <summary>The default range: above any distribution's users and below the 32-bit "nobody" ids.</summary>
    public const string DefaultRange = "2000000-2065535";

    private readonly Lock _lock = new();
    private readonly Dictionary<AgentKey, Claim> _held = [];
    private readonly HashSet<uint> _heldIds = [];
    private readonly HashSet<uint> _returnedSinceScan = [];
    private readonly uint _first;
    private readonly uint _last;
    private readonly string _lockDirectory;
    private readonly Func<uint, uint, IReadOnlySet<uint>> _usersIn;
    private readonly TimeProvider _time;
    private IReadOnlySet<uint>? _inUse;
    private long _scannedAt;
    private uint _next;

    /// <param name="usersIn">The ids from the first to the last argument that some process of the host runs as (<see cref="HostUsersIn"/>).</param>
    public AgentUidPool(uint first, uint last, string lockDirectory, Func<uint, uint, IReadOnlySet<uint>> usersIn, TimeProvider? time = null)
    {
        _first = first;
        _last = last;
        _next = first;
        _lockDirectory = lockDirectory;
        _usersIn = usersIn;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long a scan of the host's processes is used before it is taken again.</summary>
    public static TimeSpan ScanMaxAge { get; } = TimeSpan.FromSeconds(1);

    /// <summary>Scans of the host's processes so far.</summary>
    public int Scans { get; private set; }

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

            // First on the last scan if it is recent; before refusing, on a fresh one.
            var fresh = _inUse is null || _time.GetElapsedTime(_scannedAt) >= ScanMaxAge;
            for (var pass = 0; pass < 2; pass++, fresh = true)
            {
                if (fresh)
                {
                    Scan();
                }

                if (TryClaimFree() is { } claim)
                {
                    _held[key] = claim;
                    _heldIds.Add(claim.User.Uid);
                    return claim.User;
                }

                if (fresh)
                {
                    break;
                }
            }

            throw new AgentStartException($"no free agent uid in {_first}-{_last} (--agent-uid-range): every id is held by a live agent or process");
        }
    }

    private Claim? TryClaimFree()
    {
        var count = (ulong)_last - _first + 1;
        for (ulong tried = 0; tried < count; tried++)
        {
            var uid = _next;
            _next = _next == _last ? _first : _next + 1;
            if (_heldIds.Contains(uid) || _inUse!.Contains(uid) || _returnedSinceScan.Contains(uid) || TryClaim(uid) is not { } file)
            {
                continue;
            }

            return new Claim(new AgentUser($"agent-{uid}", uid, uid), file);
        }

        return null;
    }

    private void Scan()
    {
        _inUse = _usersIn(_first, _last);
        _scannedAt = _time.GetTimestamp();
        _returnedSinceScan.Clear();
        Scans++;
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

            _heldIds.Remove(claim.User.Uid);
            _returnedSinceScan.Add(claim.User.Uid);
        }

        claim.File.Dispose();
        return claim.User;
    }

    /// <summary>The ids from <paramref name="first"/> to <paramref name="last"/> that a process of this host runs as (its real, effective, saved or file-system user): one pass over /proc.</summary>
    public static IReadOnlySet<uint> HostUsersIn(uint first, uint last)
    {
        var found = new HashSet<uint>();
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
                        foreach (var field in line[4..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries))
                        {
                            if (uint.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) && uid >= first && uid <= last)
                            {
                                found.Add(uid);
                            }
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

        return found;
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
            _heldIds.Clear();
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
