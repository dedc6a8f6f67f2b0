namespace Scheduler.Master.Scheduling;

/// <summary>The values of <c>--rebalance</c>: what the master's rebalancing runs aim for, if anything.</summary>
internal static class RebalanceModes
{
    /// <summary>No rebalancing: running jobs move only when asked (migrate, drain, preemption).</summary>
    public const string Off = "off";

    /// <summary>Moves that lower the hottest node's load (its largest used share of CPU, memory or GPU).</summary>
    public const string MaxLoad = "max-load";

    /// <summary>Moves that lower the cluster's GPU fragmentation, measured as the default placement policy does.</summary>
    public const string Fragmentation = "fragmentation";

    public static IReadOnlyList<string> All { get; } = [Off, MaxLoad, Fragmentation];
}
