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
                // A gang's replicas count as their job's.
                if (JobOfAllocation(allocation.JobId) is { } other && other.Id != job.Id && TenantOf(other) == tenant)
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
