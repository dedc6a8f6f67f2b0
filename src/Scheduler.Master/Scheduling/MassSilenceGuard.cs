namespace Scheduler.Master.Scheduling;

/// <summary>Whether a tick began or ended a mass silence.</summary>
internal enum MassSilenceChange
{
    None,
    Began,
    Ended,
}

/// <summary>What one tick may do with the nodes the failure detector judged dead.</summary>
/// <param name="Declare">Declared dead now, longest silent first.</param>
/// <param name="HeldBack">Judged dead but left for a later tick.</param>
/// <param name="PerSecond">Dead verdicts allowed per second while the silence lasts.</param>
/// <param name="Affected">Nodes not ready (silent past dead-after among them) or declared dead within the window.</param>
/// <param name="Population">Nodes not dead, plus those declared dead within the window.</param>
/// <param name="DeclaredInEpisode">Verdicts given since the mass silence began (on <see cref="MassSilenceChange.Ended"/>: in all of it).</param>
internal readonly record struct MassSilenceStep<T>(
    IReadOnlyList<T> Declare,
    int HeldBack,
    double PerSecond,
    MassSilenceChange Change,
    int Affected,
    int Population,
    int DeclaredInEpisode);

/// <summary>
/// Paces dead verdicts when a large share of the nodes goes silent at once, as Kubernetes' node
/// lifecycle controller slows evictions in a disrupted zone: when nodes are silent past dead-after
/// and at least <c>MinNodes</c> nodes, more than <c>Share</c> of them, are not ready (their streams
/// broke or they are late) or were declared dead within the last dead-after, the likelier cause is this master or its network (a long pause, a saturated
/// host, a partition), not that many machines died together. Declaring them all dead would cut
/// every session and requeue every job at once, and thousands of workers registering again at once
/// is the load that makes more nodes look silent: a cascade. Instead they are declared at a bounded
/// rate (<c>PerSecondShare</c> of the nodes, at least one a second), longest silent first, so a
/// node that was only late is heard from again before its turn; the pacing lasts until none is held
/// back (or fewer than <c>MinNodes</c> are affected). A lone silent node in a small
/// cluster is declared at once as before. Declaring later only delays requeueing: a worker fences
/// its own agents once it has gone unacknowledged for dead-after, so no job runs twice meanwhile.
/// Pure and owned by the scheduling loop; time is passed in.
/// </summary>
internal sealed class MassSilenceGuard
{
    private readonly int _minNodes;
    private readonly double _share;
    private readonly double _perSecondShare;
    private readonly TimeSpan _window;
    private readonly Queue<DateTimeOffset> _recent = new();
    private bool _active;
    private double _allowance;
    private DateTimeOffset _refilled;
    private int _declaredInEpisode;

    /// <param name="minNodes">Fewer affected nodes than this are always declared at once.</param>
    /// <param name="share">The share of nodes (0–1) that must be affected; 1 turns the guard off.</param>
    /// <param name="perSecondShare">Verdicts per second during a mass silence, as a share of the nodes (at least one a second).</param>
    /// <param name="window">How long a verdict counts as recent: the master's dead-after.</param>
    public MassSilenceGuard(int minNodes, double share, double perSecondShare, TimeSpan window)
    {
        _minNodes = Math.Max(1, minNodes);
        _share = share;
        _perSecondShare = Math.Max(0, perSecondShare);
        _window = window;
    }

    public static MassSilenceGuard From(MasterOptions options) => new(
        options.MassSilenceMinNodes,
        options.MassSilenceShare,
        options.MassSilenceDeadPerSecondPercent / 100.0,
        TimeSpan.FromMilliseconds(options.DeadAfterMs));

    /// <summary>Whether verdicts are being paced now.</summary>
    public bool Active => _active;

    /// <summary>
    /// Decides which of <paramref name="judgedDead"/> (each with how long it has been silent) are
    /// declared dead on this tick. <paramref name="notDead"/> counts every node not yet dead, the
    /// judged ones included; <paramref name="unready"/> those of them not ready (their stream broke or
    /// they are late; at least the judged ones). The caller declares exactly the nodes returned.
    /// </summary>
    public MassSilenceStep<T> Admit<T>(IReadOnlyList<(T Node, TimeSpan Silent)> judgedDead, int notDead, DateTimeOffset now, int? unready = null)
    {
        while (_recent.TryPeek(out var at) && now - at > _window)
        {
            _recent.Dequeue();
        }

        // Counted from the nodes not ready, not only from those already past dead-after, as Kubernetes
        // measures a zone's disruption by its NotReady nodes: when every stream broke at once the
        // first of them to pass dead-after are a minority, and were all declared dead unpaced.
        var affected = Math.Max(judgedDead.Count, unready ?? 0) + _recent.Count;
        var population = notDead + _recent.Count;
        var perSecond = Math.Max(1, _perSecondShare * population);
        // Once begun, it lasts while nodes are held back: as held nodes come back the share falls
        // below the threshold long before the backlog is gone, and declaring all the rest at once
        // then is the burst the pacing is for (5,273 in one tick was seen at 10,000 nodes).
        var mass = judgedDead.Count > 0 && affected >= _minNodes && _share < 1 && (_active || affected > _share * population);
        if (!mass)
        {
            var change = _active ? MassSilenceChange.Ended : MassSilenceChange.None;
            var declared = _declaredInEpisode + judgedDead.Count;
            _active = false;
            _declaredInEpisode = 0;
            return new MassSilenceStep<T>(Declare(judgedDead, judgedDead.Count, now), 0, perSecond, change, affected, population, declared);
        }

        var began = !_active;
        if (began)
        {
            // One second's worth at once, then the rest as the allowance refills.
            _active = true;
            _allowance = perSecond;
            _declaredInEpisode = 0;
        }
        else
        {
            _allowance = Math.Min(perSecond, _allowance + (perSecond * (now - _refilled).TotalSeconds));
        }

        _refilled = now;
        var count = Math.Min(judgedDead.Count, (int)Math.Floor(_allowance));
        _allowance -= count;
        _declaredInEpisode += count;
        var longestFirst = judgedDead.OrderByDescending(j => j.Silent).ToList();
        return new MassSilenceStep<T>(
            Declare(longestFirst, count, now),
            judgedDead.Count - count,
            perSecond,
            began ? MassSilenceChange.Began : MassSilenceChange.None,
            affected,
            population,
            _declaredInEpisode);
    }

    private List<T> Declare<T>(IReadOnlyList<(T Node, TimeSpan Silent)> judged, int count, DateTimeOffset now)
    {
        var declared = new List<T>(count);
        for (var i = 0; i < count; i++)
        {
            declared.Add(judged[i].Node);
            _recent.Enqueue(now);
        }

        return declared;
    }
}
