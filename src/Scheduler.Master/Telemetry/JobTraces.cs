using System.Diagnostics;
using Scheduler.Master.Store;

namespace Scheduler.Master.Telemetry;

/// <summary>
/// The trace each pending job belongs to (the context of its Submit span), kept by the loop from
/// the submission until the job is dispatched, so the spans the loop makes for it later join the
/// trace the client's call began. Empty when nobody listens: then Submit starts no span.
/// </summary>
internal sealed class JobTraces
{
    private readonly Dictionary<string, ActivityContext> _pending = new(StringComparer.Ordinal);

    public void Submitted(string jobId, ActivityContext submit)
    {
        if (submit != default)
        {
            _pending[jobId] = submit;
        }
    }

    /// <summary>A job that will not be dispatched from this submission (cancelled while pending).</summary>
    public void Forget(string jobId) => _pending.Remove(jobId);

    public bool IsTraced(string jobId) => _pending.ContainsKey(jobId);

    /// <summary>The queue wait (since <paramref name="pendingSince"/>) and the placement decision of a pass.</summary>
    public void Placed(JobRecord assigned, DateTimeOffset pendingSince, DateTimeOffset passStarted, DateTimeOffset decided)
    {
        if (!_pending.TryGetValue(assigned.Id, out var parent))
        {
            return;
        }

        MasterTracing.Record("scheduler.queue", parent, pendingSince, passStarted, [new(MasterTracing.JobId, assigned.Id)]);
        MasterTracing.Record("scheduler.place", parent, passStarted, decided,
        [
            new(MasterTracing.JobId, assigned.Id),
            new(MasterTracing.Attempt, assigned.Attempt),
            new(MasterTracing.NodeId, assigned.NodeId),
            new("scheduler.gpu.uuids", string.Join(',', assigned.GpuUuids)),
        ]);
    }

    /// <summary>The store write that made the placements durable (before any worker is told).</summary>
    public void Persisted(IEnumerable<JobRecord> placed, DateTimeOffset start, DateTimeOffset end, bool ok)
    {
        foreach (var job in placed)
        {
            if (_pending.TryGetValue(job.Id, out var parent))
            {
                MasterTracing.Record("scheduler.persist", parent, start, end, [new(MasterTracing.JobId, job.Id), new(MasterTracing.Attempt, job.Attempt)], ok);
            }
        }
    }

    /// <summary>
    /// The dispatch span, current while the start command is built (it becomes the command's
    /// traceparent); null for an untraced job. The job's trace ends here on the master.
    /// </summary>
    public Activity? Dispatch(JobRecord job)
    {
        if (!_pending.Remove(job.Id, out var parent))
        {
            return null;
        }

        return MasterTracing.Source.StartActivity("scheduler.dispatch", ActivityKind.Producer, parent,
        [
            new(MasterTracing.JobId, job.Id),
            new(MasterTracing.Attempt, job.Attempt),
            new(MasterTracing.NodeId, job.NodeId),
        ]);
    }
}
