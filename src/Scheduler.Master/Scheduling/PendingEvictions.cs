namespace Scheduler.Master.Scheduling;

/// <summary>
/// Which victims were chosen on which node for each preemptor whose eviction is in flight: until
/// they have given that node's capacity back (exited, or moved away by a live migration), planning
/// again for the same preemptor would evict more than needed.
/// </summary>
internal sealed class PendingEvictions
{
    private readonly Dictionary<string, (string NodeId, string[] Victims)> _plans = new(StringComparer.Ordinal);

    /// <summary>True while a victim chosen earlier for <paramref name="preemptor"/> still holds capacity on the plan's node.</summary>
    public bool InFlight(string preemptor, Func<string, string, bool> stillHoldsOn) =>
        _plans.TryGetValue(preemptor, out var plan) && plan.Victims.Any(v => stillHoldsOn(v, plan.NodeId));

    public void Record(string preemptor, string nodeId, IEnumerable<string> victims) => _plans[preemptor] = (nodeId, [.. victims]);

    /// <summary>True when <paramref name="jobId"/> was chosen to make room for some preemptor.</summary>
    public bool IsVictim(string jobId) => _plans.Values.Any(p => p.Victims.Contains(jobId, StringComparer.Ordinal));

    /// <summary>The preemptor was placed, or its plan was not stored.</summary>
    public void Forget(string preemptor) => _plans.Remove(preemptor);
}
