namespace Scheduler.Core.Preemption;

/// <summary>
/// Which priority classes may preempt and which may be preempted. A job may evict only jobs of
/// strictly lower priority, and only when it is at least <see cref="MinPreemptorPriority"/> and
/// they are below <see cref="ProtectedFromPriority"/>.
/// </summary>
public sealed record PreemptionOptions
{
    /// <summary>Jobs with at least this priority may preempt (priorities run 1..1000).</summary>
    public int MinPreemptorPriority { get; init; } = 500;

    /// <summary>Jobs with at least this priority are never preempted.</summary>
    public int ProtectedFromPriority { get; init; } = 900;

    /// <summary>Most victims one plan may name.</summary>
    public int MaxVictims { get; init; } = 8;

    /// <summary>
    /// Victim sets examined per node before the planner falls back from exact search to a greedy
    /// choice; bounds the cost of a node crowded with small jobs.
    /// </summary>
    public int SearchBudgetPerNode { get; init; } = 20_000;

    /// <summary>
    /// Blocked jobs one scheduling cycle plans preemption for; keeps a pass over a long queue of
    /// jobs that fit nowhere from searching every node for each of them.
    /// </summary>
    public int MaxPlansPerCycle { get; init; } = 16;
}
