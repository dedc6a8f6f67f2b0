using System.Globalization;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Benchmarks;

/// <summary>
/// <c>[--nodes 1000,10000] [--policy NAME,...|all] [--pending 100000] [--decisions 20000] [--seconds 2]
/// [--warmup 500] [--learned 6000] [--data DIR] [--no-index] [--no-array] [--no-trees] [--trace-distribution]</c>.
/// </summary>
internal sealed record QuickOptions
{
    public const string Usage =
        "usage: Scheduler.Core.Benchmarks [--nodes 1000,10000] [--policy NAME,...|all] [--pending 100000] [--decisions 20000] [--seconds 2] [--warmup 500] [--learned 6000] [--data DIR] [--no-index] [--no-array] [--no-trees] [--trace-distribution] [--gangs N]\n" +
        "       Scheduler.Core.Benchmarks --bdn [BenchmarkDotNet arguments, e.g. --filter '*' --job short]";

    public IReadOnlyList<int> NodeCounts { get; init; } = [1000, 10000];

    // The default run stays within a few minutes; policies that score per node (random,
    // gpu-clustering) take minutes for a 100,000-job pass at 10,000 nodes: ask for them (--policy all).
    public IReadOnlyList<string> Policies { get; init; } = [PlacementPolicies.Default, PlacementPolicyNames.BestFit, PlacementPolicyNames.GpuPacking];

    public int Pending { get; init; } = 100_000;

    public int Decisions { get; init; } = 20_000;

    public double Seconds { get; init; } = 2;

    public int Warmup { get; init; } = 500;

    /// <summary>
    /// Jobs a learning policy observes before a placement-call run (not placed, not timed): the steady state of a
    /// master that has run a while, whose typical-task set has settled. 0 measures a master that has just started.
    /// </summary>
    public int Learned { get; init; } = 6000;

    public string DataDir { get; init; } = CoreScenario.DefaultDataDir;

    public bool Indexed { get; init; } = true;

    public bool Learn { get; init; } = true;

    /// <summary>With --gangs N: only the gang pass, N waiting gangs that do not fit on a loaded cluster.</summary>
    public int Gangs { get; init; }

    /// <summary>False skips the per-node scan (the slowest column) to measure the index path alone.</summary>
    public bool Array { get; init; } = true;

    /// <summary>False: the index path scans classes (as before the per-shape score trees), for side-by-side figures.</summary>
    public bool Trees { get; init; } = true;

    public static bool TryParse(string[] args, out QuickOptions options, out string error)
    {
        options = new QuickOptions();
        error = "";
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--nodes" when value is not null:
                    options = options with { NodeCounts = value.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray() };
                    i++;
                    break;
                case "--policy" when value is not null:
                    options = options with { Policies = value == "all" ? PlacementPolicies.Names : value.Split(',') };
                    i++;
                    break;
                case "--pending" when value is not null:
                    options = options with { Pending = int.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--decisions" when value is not null:
                    options = options with { Decisions = int.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--seconds" when value is not null:
                    options = options with { Seconds = double.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--warmup" when value is not null:
                    options = options with { Warmup = int.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--learned" when value is not null:
                    options = options with { Learned = int.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--data" when value is not null:
                    options = options with { DataDir = value };
                    i++;
                    break;
                case "--gangs" when value is not null:
                    options = options with { Gangs = int.Parse(value, CultureInfo.InvariantCulture) };
                    i++;
                    break;
                case "--trace-distribution":
                    options = options with { Learn = false };
                    break;
                case "--no-array":
                    options = options with { Array = false };
                    break;
                case "--no-trees":
                    options = options with { Trees = false };
                    break;
                case "--no-index":
                    options = options with { Indexed = false };
                    break;
                default:
                    error = $"unknown or incomplete argument '{args[i]}'";
                    return false;
            }
        }

        var unknown = options.Policies.FirstOrDefault(p => !PlacementPolicies.IsKnown(p));
        if (unknown is not null)
        {
            error = $"unknown policy '{unknown}'";
            return false;
        }

        return true;
    }
}
