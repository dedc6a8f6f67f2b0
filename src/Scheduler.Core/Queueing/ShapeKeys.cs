using System.Runtime.CompilerServices;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Queueing;

/// <summary>
/// Each demand's <see cref="ShapeKey"/>, worked out once per demand object: a caller that keeps its
/// queued jobs from pass to pass (as the master does) pays for a constrained job's key once, not on
/// every pass. A demand with no model or label constraint needs no cache: its key allocates nothing.
/// </summary>
internal sealed class ShapeKeys
{
    private readonly ConditionalWeakTable<JobDemand, StrongBox<ShapeKey>> _keys = [];

    public ShapeKey Of(JobDemand demand)
    {
        if (demand.GpuModels.Count == 0 && demand.NodeSelector.Count == 0)
        {
            return ShapeKey.Of(demand);
        }

        return _keys.GetValue(demand, static d => new StrongBox<ShapeKey>(ShapeKey.Of(d))).Value;
    }
}
