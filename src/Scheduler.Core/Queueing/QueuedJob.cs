using Scheduler.Core.Placement;

namespace Scheduler.Core.Queueing;

/// <summary>A job waiting to be placed. <see cref="Sequence"/> breaks ties in arrival order.</summary>
public sealed record QueuedJob(
    JobDemand Demand,
    int Priority,
    DateTimeOffset EnqueuedAt,
    long Sequence,
    string Tenant = "default");
