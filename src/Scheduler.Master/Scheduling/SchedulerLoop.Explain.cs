using Scheduler.Contracts.V1;
using Scheduler.Core.Fairness;

namespace Scheduler.Master.Scheduling;

/// <summary>`jobs why`: answered on the loop, which owns the node states the filter needs.</summary>
internal sealed partial class SchedulerLoop
{
    private Task Explain(ExplainJob explain)
    {
        if (!_jobs.TryGetValue(explain.JobId, out var job))
        {
            explain.Reply.TrySetException(NotFound("job", explain.JobId));
            return Task.CompletedTask;
        }

        var tenant = TenantOf(job);
        var usage = ResourceTotals.Zero;
        foreach (var node in _nodes.Values)
        {
            foreach (var allocation in node.State.Allocations.Values)
            {
                if (allocation.JobId != job.Id && _jobs.TryGetValue(allocation.JobId, out var other) && TenantOf(other) == tenant)
                {
                    usage += ResourceTotals.Of(allocation.Resources);
                }
            }
        }

        var nodes = _nodes.Values.Select(n => n.State).ToList();
        explain.Reply.TrySetResult(_explainer.Explain(job, tenant, nodes, usage, _lastReservation));
        return Task.CompletedTask;
    }
}
