namespace Scheduler.Core.Preemption;

/// <summary>
/// Evict <see cref="Victims"/> from <see cref="NodeId"/> and <see cref="JobId"/> fits there.
/// The master stops (or checkpoints and requeues) the victims; the job is placed on a later pass.
/// </summary>
public sealed record PreemptionPlan(string JobId, string NodeId, IReadOnlyList<string> Victims, VictimCost Cost);
