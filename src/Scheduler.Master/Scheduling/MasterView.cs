using System.Collections.Immutable;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// An immutable, versioned picture of the cluster that request handlers read without touching
/// the loop's state; the loop publishes a new one after every batch of events.
/// </summary>
internal sealed record MasterView(
    long Version,
    long Epoch,
    DateTimeOffset LeaderSince,
    ImmutableDictionary<string, JobRecord> Jobs,
    ImmutableSortedDictionary<string, Node> Nodes)
{
    /// <summary>The latest autoscaling signal.</summary>
    public ImmutableArray<Core.Scaling.ScalingAdvice> Scaling { get; init; } = [];

    public static MasterView Empty { get; } = new(
        0, 0, DateTimeOffset.MinValue,
        ImmutableDictionary.Create<string, JobRecord>(StringComparer.Ordinal),
        ImmutableSortedDictionary.Create<string, Node>(StringComparer.Ordinal));
}
