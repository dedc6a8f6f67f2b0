using Scheduler.Core.Resources;

namespace Scheduler.Core.Cluster;

/// <summary>Resources one job attempt holds on one node.</summary>
public sealed record Allocation(string JobId, string NodeId, ResourceRequest Resources, IReadOnlyList<GpuShare> Gpus);
