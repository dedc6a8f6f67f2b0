namespace Scheduler.Core.Preemption;

/// <summary>
/// What evicting a set of victims costs, compared in order: their summed priority, the share of
/// the node they hold, then the run time lost (zero for checkpointable victims, which resume).
/// </summary>
public readonly record struct VictimCost(long Priority, double Resources, double LostSeconds) : IComparable<VictimCost>
{
    /// <inheritdoc />
    public int CompareTo(VictimCost other)
    {
        var c = Priority.CompareTo(other.Priority);
        if (c == 0)
        {
            c = Resources.CompareTo(other.Resources);
        }

        return c != 0 ? c : LostSeconds.CompareTo(other.LostSeconds);
    }

    /// <summary>Sum of two costs.</summary>
    public static VictimCost operator +(VictimCost a, VictimCost b) =>
        new(a.Priority + b.Priority, a.Resources + b.Resources, a.LostSeconds + b.LostSeconds);

    /// <summary>Sum of two costs.</summary>
    public static VictimCost Add(VictimCost a, VictimCost b) => a + b;

    /// <summary>Lower cost first.</summary>
    public static bool operator <(VictimCost a, VictimCost b) => a.CompareTo(b) < 0;

    /// <summary>Higher cost first.</summary>
    public static bool operator >(VictimCost a, VictimCost b) => a.CompareTo(b) > 0;

    /// <summary>Lower or equal cost.</summary>
    public static bool operator <=(VictimCost a, VictimCost b) => a.CompareTo(b) <= 0;

    /// <summary>Higher or equal cost.</summary>
    public static bool operator >=(VictimCost a, VictimCost b) => a.CompareTo(b) >= 0;
}
