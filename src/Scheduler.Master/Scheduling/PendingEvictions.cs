namespace Scheduler.Master.Scheduling;

/// <summary>
/// Which victims were chosen for each preemptor whose eviction is in flight: until they have given
/// their capacity back, planning again for the same preemptor would evict more than needed.
/// </summary>
internal sealed class PendingEvictions
{
    private readonly Dictionary<string, string[]> _victimsOf = new(StringComparer.Ordinal);

    /// <summary>True while a victim chosen earlier for <paramref name="preemptor"/> still holds capacity.</summary>
    public bool InFlight(string preemptor, Func<string, bool> stillHolds) =>
        _victimsOf.TryGetValue(preemptor, out var victims) && victims.Any(stillHolds);

    public void Record(string preemptor, IEnumerable<string> victims) => _victimsOf[preemptor] = [.. victims];

    /// <summary>The preemptor was placed, or its plan was not stored.</summary>
    public void Forget(string preemptor) => _victimsOf.Remove(preemptor);
}
