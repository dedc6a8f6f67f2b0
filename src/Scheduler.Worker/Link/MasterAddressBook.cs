namespace Scheduler.Worker.Link;

/// <summary>
/// Which master the worker's next session goes to. It sticks to the master that last accepted the
/// worker and moves on only after a failure. When a standby names the leader, the next session goes
/// there. Leaders learnt this way are added to the list; only a few are kept, oldest dropped first,
/// so a worker given one standby still finds the leader and the list stays bounded.
/// Not thread-safe: the link calls it under its own lock.
/// </summary>
internal sealed class MasterAddressBook
{
    /// <summary>How many learnt addresses are kept besides the configured ones.</summary>
    public const int MaxLearned = 2;

    /// <summary>
    /// Hints followed one after another with no backoff. Two standbys with stale views can point at
    /// each other; after this many hops the normal backoff applies, so the worker never spins.
    /// </summary>
    public const int MaxHopsAtOnce = 2;

    private readonly List<Uri> _configured;
    private readonly List<Uri> _learned = [];
    private readonly HashSet<string> _refusing = new(StringComparer.OrdinalIgnoreCase);
    private int _cursor;
    private int _hops;
    private int _failedInRound;
    private bool _answeredInRound;

    public MasterAddressBook(IEnumerable<Uri> configured)
    {
        _configured = [];
        foreach (var address in configured)
        {
            if (IndexOf(_configured, address) < 0)
            {
                _configured.Add(address);
            }
        }

        if (_configured.Count == 0)
        {
            throw new ArgumentException("at least one master address is needed", nameof(configured));
        }
    }

    /// <summary>The configured addresses, then the learnt ones.</summary>
    public IReadOnlyList<Uri> Known => [.. _configured, .. _learned];

    /// <summary>True when the last failure was a leader hint to follow without backoff.</summary>
    public bool RetryAtOnce { get; private set; }

    /// <summary>
    /// True while this round of failures has not yet tried every known address: the next one is
    /// tried after a short pause only. In a failover the dead leader refuses, and the standby that
    /// takes over must be found in a fraction of a second, not after a backoff grown on the dead one.
    /// </summary>
    public bool NextInRound => _failedInRound > 0 && _failedInRound < Count;

    /// <summary>Whole rounds through every known address that failed since the last registration: the backoff's exponent.</summary>
    public int FailedRounds { get; private set; }

    /// <summary>
    /// True when some master answered (a standby) in the last whole round that failed: an election
    /// is under way or a standby is taking over, so the next round comes after a short poll, not a
    /// backoff grown for a cluster where nothing runs.
    /// </summary>
    public bool LastRoundAnswered { get; private set; }

    /// <summary>The address for the next session.</summary>
    public Uri Next() => At(_cursor);

    /// <summary>
    /// A session at <paramref name="address"/> failed with no leader named, so the next one tries the
    /// following address. A connection refused there is remembered until the next contact; any other
    /// failure (a timeout, or a standby answering) means a master may be running there.
    /// Returns true when every known address has refused since the last contact: no master is running.
    /// </summary>
    public bool OnFailed(Uri address, bool refused, bool answered = false)
    {
        RetryAtOnce = false;
        _hops = 0;
        _answeredInRound |= answered;
        if (++_failedInRound >= Count)
        {
            _failedInRound = 0;
            FailedRounds++;
            LastRoundAnswered = _answeredInRound;
            _answeredInRound = false;
        }

        var index = IndexOf(address);
        if (index >= 0)
        {
            _cursor = (index + 1) % Count;
        }

        if (!refused)
        {
            _refusing.Remove(Key(address));
            return false;
        }

        _refusing.Add(Key(address));
        return Known.All(known => _refusing.Contains(Key(known)));
    }

    /// <summary>
    /// The standby at <paramref name="from"/> named <paramref name="leader"/>, so the next session goes
    /// there. A hint that names the master that gave it is stale: it counts as a failure at a running
    /// master, or the worker would keep asking the same one. Returns false in that case.
    /// </summary>
    public bool OnHint(Uri from, Uri leader)
    {
        if (SameAddress(from, leader))
        {
            OnFailed(from, refused: false, answered: true);
            return false;
        }

        // The standby answered, so it is running.
        _refusing.Remove(Key(from));
        if (_refusing.Contains(Key(leader)))
        {
            // The leader it names refused this worker since: the standby has not seen it die yet
            // (its lease has not lapsed). Following it would bounce between the two; try the rest.
            OnFailed(from, refused: false, answered: true);
            return false;
        }

        var index = IndexOf(leader);
        if (index < 0)
        {
            _learned.Add(leader);
            if (_learned.Count > MaxLearned)
            {
                _refusing.Remove(Key(_learned[0]));
                _learned.RemoveAt(0);
            }

            index = IndexOf(leader);
        }

        _cursor = index;
        _hops++;
        RetryAtOnce = _hops <= MaxHopsAtOnce;
        if (!RetryAtOnce)
        {
            // Standbys pointing at each other: every further hop waits like a failed round.
            FailedRounds++;
        }

        return true;
    }

    /// <summary>A master at <paramref name="address"/> accepted the worker: reconnects start there.</summary>
    public void OnRegistered(Uri address)
    {
        var index = IndexOf(address);
        if (index >= 0)
        {
            _cursor = index;
        }

        RetryAtOnce = false;
        _hops = 0;
        _failedInRound = 0;
        _answeredInRound = false;
        LastRoundAnswered = false;
        FailedRounds = 0;
        _refusing.Clear();
    }

    /// <summary>A master heard from the worker: refusals seen before no longer show that none runs.</summary>
    public void OnContact() => _refusing.Clear();

    public static bool SameAddress(Uri a, Uri b) => string.Equals(Key(a), Key(b), StringComparison.OrdinalIgnoreCase);

    private static string Key(Uri address) => address.GetComponents(UriComponents.SchemeAndServer, UriFormat.Unescaped);

    private static int IndexOf(List<Uri> list, Uri address) => list.FindIndex(known => SameAddress(known, address));

    private int Count => _configured.Count + _learned.Count;

    private Uri At(int index) => index < _configured.Count ? _configured[index] : _learned[index - _configured.Count];

    private int IndexOf(Uri address)
    {
        var configured = IndexOf(_configured, address);
        if (configured >= 0)
        {
            return configured;
        }

        var learned = IndexOf(_learned, address);
        return learned < 0 ? -1 : _configured.Count + learned;
    }
}
