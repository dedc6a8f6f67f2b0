namespace Scheduler.Worker.Link;

/// <summary>
/// How long the link waits before its next connection attempt. A leader hint is followed at once,
/// the rest of a round of addresses after a short pause, a standby's answer (an election is
/// running) after an election poll, and a round that met only failures after an exponential
/// backoff with jitter, capped below the master's dead-after.
/// </summary>
internal sealed class ReconnectPolicy
{
    // Not zero: even a good hint is followed with a short pause, so no error can make a tight loop.
    internal static readonly TimeSpan HintFloor = TimeSpan.FromMilliseconds(20);
    internal static readonly TimeSpan NextAddressPause = TimeSpan.FromMilliseconds(50);
    internal static readonly TimeSpan ElectionPoll = TimeSpan.FromMilliseconds(150);

    private readonly Random _random;

    /// <param name="random">Thread-safe if the policy is shared (<see cref="Random.Shared"/>); seeded in tests.</param>
    public ReconnectPolicy(Random random) => _random = random;

    /// <summary>The pause before the next attempt, from where the address book stands.</summary>
    public TimeSpan NextDelay(bool retryAtOnce, bool nextInRound, bool lastRoundAnswered, int failedRounds, TimeSpan cap)
    {
        if (retryAtOnce)
        {
            return HintFloor;
        }

        if (nextInRound)
        {
            return NextAddressPause;
        }

        if (lastRoundAnswered)
        {
            return ElectionPoll * (0.5 + _random.NextDouble());
        }

        return Backoff(Math.Max(0, failedRounds - 1), cap);
    }

    /// <summary>Full jitter over an exponential ceiling: reconnecting workers do not arrive in lockstep.</summary>
    public TimeSpan Backoff(int attempt, TimeSpan cap)
    {
        var ceiling = Math.Min(cap.TotalMilliseconds, 200 * Math.Pow(2, Math.Min(attempt, 16)));
        return TimeSpan.FromMilliseconds(ceiling / 2 + _random.NextDouble() * ceiling / 2);
    }

    /// <summary>
    /// After a registered stream ended: soon, but with full jitter over a ceiling that doubles with
    /// each stream in a row that ended before it was stable (<paramref name="endedInARow"/>, 0 for the
    /// first), up to <paramref name="cap"/>. Thousands of nodes cut off at once (a master restarted or
    /// overloaded) then come back spread out instead of all within the same 100 ms, and a master that
    /// keeps accepting then closing is not hammered in a tight loop.
    /// </summary>
    public TimeSpan AfterSessionEnded(int endedInARow, TimeSpan cap)
    {
        var ceiling = Math.Min(cap.TotalMilliseconds, SessionEndedBase.TotalMilliseconds * Math.Pow(2, Math.Clamp(endedInARow, 0, 16)));
        return HintFloor + TimeSpan.FromMilliseconds(_random.NextDouble() * Math.Max(0, ceiling - HintFloor.TotalMilliseconds));
    }

    /// <summary>The ceiling of the first reconnect after a stream ended.</summary>
    internal static readonly TimeSpan SessionEndedBase = TimeSpan.FromMilliseconds(200);

    /// <summary>A stream that lasted this long was stable: the next one that ends starts the backoff over.</summary>
    internal static readonly TimeSpan StableSession = TimeSpan.FromSeconds(30);
}
