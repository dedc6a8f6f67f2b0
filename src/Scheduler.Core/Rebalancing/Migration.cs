using Scheduler.Core.Cluster;

namespace Scheduler.Core.Rebalancing;

/// <summary>Move <see cref="JobId"/> from <see cref="FromNode"/> to the allocation <see cref="Target"/> describes.</summary>
public sealed record Migration(string JobId, string FromNode, string ToNode, Allocation Target);
