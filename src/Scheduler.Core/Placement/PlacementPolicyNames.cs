namespace Scheduler.Core.Placement;

/// <summary>The names by which placement policies are chosen in configuration.</summary>
public static class PlacementPolicyNames
{
    /// <summary>Least leftover capacity after placement: packs tightly, keeps whole nodes free.</summary>
    public const string BestFit = "best-fit";

    /// <summary>Most leftover capacity after placement: spreads load and heat.</summary>
    public const string Spread = "spread";
}
