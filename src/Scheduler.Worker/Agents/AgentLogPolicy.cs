namespace Scheduler.Worker.Agents;

/// <summary>
/// Limits on agents' output on disk: a live log is rotated past <see cref="MaxLogBytes"/> (0: never),
/// a forgotten agent's folder is deleted after <see cref="Retention"/> of quiet (zero: kept forever),
/// both checked every <see cref="Interval"/>.
/// </summary>
internal sealed record AgentLogPolicy(long MaxLogBytes, TimeSpan Retention, TimeSpan Interval)
{
    public bool Enabled => MaxLogBytes > 0 || Retention > TimeSpan.Zero;

    public static AgentLogPolicy From(WorkerOptions options) => new(
        options.AgentLogMaxMib * 1024 * 1024,
        TimeSpan.FromHours(options.AgentRetentionHours),
        TimeSpan.FromSeconds(options.AgentLogSweepSeconds));
}
