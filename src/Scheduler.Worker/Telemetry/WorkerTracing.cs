using System.Diagnostics;

namespace Scheduler.Worker.Telemetry;

/// <summary>
/// The worker's one ActivitySource. Starting an agent continues the trace the master carried in
/// <c>StartAgent.traceparent</c>, so one trace runs from Submit on the master to the agent's start here.
/// </summary>
internal static class WorkerTracing
{
    public const string SourceName = "Scheduler.Worker";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The span of one agent start; a root span when the master sent no (or no valid) trace context.</summary>
    public static Activity? StartAgent(string nodeId, string jobId, int attempt, string traceparent)
    {
        ActivityContext.TryParse(traceparent, null, isRemote: true, out var parent);
        return Source.StartActivity("scheduler.agent.start", ActivityKind.Consumer, parent,
        [
            new("scheduler.node.id", nodeId),
            new("scheduler.job.id", jobId),
            new("scheduler.job.attempt", attempt),
        ]);
    }
}
