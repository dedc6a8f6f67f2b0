using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Queueing;

/// <summary>What placement sees of a job apart from its id: jobs with equal keys fit the same nodes.</summary>
internal readonly record struct ShapeKey(ResourceRequest Resources, string Models, string Selector, TopologyLevel Topology = TopologyLevel.System)
{
    public static ShapeKey Of(JobDemand demand)
    {
        var models = demand.GpuModels.Count == 0
            ? ""
            : string.Join('\u001f', demand.GpuModels.Select(m => m.ToUpperInvariant()).Order(StringComparer.Ordinal));
        var selector = demand.NodeSelector.Count == 0
            ? ""
            : string.Join('\u001f', demand.NodeSelector.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));
        return new ShapeKey(demand.Resources, models, selector, demand.RequiredTopology);
    }
}
