namespace Scheduler.Core.Queueing;

/// <summary>The names by which queue policies are chosen in configuration.</summary>
public static class QueuePolicyNames
{
    /// <summary>Priority classes, FIFO within one, aging so nothing starves (the default).</summary>
    public const string Priority = "priority";

    /// <summary>Arrival order only.</summary>
    public const string Fifo = "fifo";

    /// <summary>Shortest declared runtime first; jobs with no estimate last, in arrival order.</summary>
    public const string ShortestJobFirst = "sjf";

    /// <summary>Dominant resource fairness between tenants.</summary>
    public const string DominantResourceFairness = "drf";
}
