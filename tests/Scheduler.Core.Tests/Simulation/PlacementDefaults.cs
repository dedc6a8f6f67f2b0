using Scheduler.Core.Placement;

namespace Scheduler.Core.Tests.Simulation;

internal static class PlacementDefaults
{
    public const string Name = PlacementPolicies.Default;
}
