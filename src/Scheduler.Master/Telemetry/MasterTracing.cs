using System.Diagnostics;

namespace Scheduler.Master.Telemetry;

/// <summary>
/// The master's one ActivitySource. A job's trace begins at Submit and follows it through the
/// queue, the placement, the store write and the dispatch; the dispatch span's context rides to
/// the worker in <c>StartAgent.traceparent</c>, where the agent's start continues the same trace.
/// </summary>
internal static class MasterTracing
{
    public const string SourceName = "Scheduler.Master";

    public static readonly ActivitySource Source = new(SourceName);

    public const string JobId = "scheduler.job.id";
    public const string Attempt = "scheduler.job.attempt";
    public const string NodeId = "scheduler.node.id";

    /// <summary>The span of a Submit call; a child of the caller's span when it sent a valid traceparent.</summary>
    public static Activity? StartSubmit(string? traceparent)
    {
        ActivityContext.TryParse(traceparent, null, isRemote: true, out var parent);

        // Not under ASP.NET Core's request activity: nothing exports it, so it is not recorded, and
        // the parent-based sampler would drop every span of the job's trace with it.
        Activity.Current = null;
        return Source.StartActivity("scheduler.submit", ActivityKind.Server, parent);
    }

    /// <summary>A span already over (start and end known), as the queue wait is once a job is placed.</summary>
    public static void Record(string name, ActivityContext parent, DateTimeOffset start, DateTimeOffset end, IEnumerable<KeyValuePair<string, object?>> tags, bool ok = true)
    {
        using var activity = Source.StartActivity(name, ActivityKind.Internal, parent, tags, startTime: start);
        if (activity is null)
        {
            return;
        }

        activity.SetEndTime(end.UtcDateTime);
        if (!ok)
        {
            activity.SetStatus(ActivityStatusCode.Error);
        }
    }
}
