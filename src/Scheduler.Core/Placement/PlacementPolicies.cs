namespace Scheduler.Core.Placement;

/// <summary>Creates placement policies by their configured name.</summary>
public static class PlacementPolicies
{
    /// <summary>The policy used when configuration names none.</summary>
    public const string Default = PlacementPolicyNames.BestFit;

    /// <summary>Every known policy name.</summary>
    public static IReadOnlyList<string> Names { get; } = [PlacementPolicyNames.BestFit, PlacementPolicyNames.Spread];

    /// <summary>The policy called <paramref name="name"/>; throws <see cref="ArgumentException"/> for an unknown name.</summary>
    public static IPlacementPolicy Create(string name, int seed = 42) => name switch
    {
        PlacementPolicyNames.BestFit => new BestFitPolicy(),
        PlacementPolicyNames.Spread => new SpreadPolicy(),
        _ => throw new ArgumentException(
            $"Unknown placement policy '{name}'. Known: {string.Join(", ", Names)}.", nameof(name)),
    };
}
