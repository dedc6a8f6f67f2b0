namespace Scheduler.Master.Store;

/// <summary>Everything a master loads when it takes over.</summary>
internal sealed record StoredState(IReadOnlyList<JobRecord> Jobs, IReadOnlyList<NodeRecord> Nodes);
