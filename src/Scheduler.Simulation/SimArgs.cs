using System.Globalization;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

internal sealed record SimArgs(string Nodes, string Tasks, string Policy, IReadOnlyList<int> Seeds, bool Json, bool Timed)
{
    public static SimArgs Parse(string[] args)
    {
        string? nodes = null, tasks = null;
        var policy = PlacementPolicies.Default;
        IReadOnlyList<int> seeds = Enumerable.Range(42, 10).ToArray();
        bool json = false, timed = true;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--nodes": nodes = Value(); break;
                case "--tasks": tasks = Value(); break;
                case "--policy": policy = Value(); break;
                case "--seeds": seeds = ParseSeeds(Value()); break;
                case "-o" or "--output": json = Value() switch { "json" => true, "table" => false, var o => throw new FormatException($"-o: '{o}' is not json or table") }; break;
                case "--no-time": timed = false; break;
                default: throw new FormatException($"unknown argument '{args[i]}'");
            }
        }

        if (policy != "all" && !PlacementPolicies.IsKnown(policy))
        {
            throw new FormatException($"--policy: '{policy}' is not one of all, {string.Join(", ", PlacementPolicies.Names)}");
        }

        return new SimArgs(
            nodes ?? throw new FormatException("--nodes is required"),
            tasks ?? throw new FormatException("--tasks is required"),
            policy,
            seeds,
            json,
            timed);
    }

    /// <summary>"42-51", "42,43,50" or "7".</summary>
    internal static int[] ParseSeeds(string text)
    {
        try
        {
            var dash = text.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0)
            {
                var from = int.Parse(text[..dash], CultureInfo.InvariantCulture);
                var to = int.Parse(text[(dash + 1)..], CultureInfo.InvariantCulture);
                return to >= from && to - from < 1000 ? Enumerable.Range(from, to - from + 1).ToArray() : throw new FormatException();
            }

            return text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new FormatException($"--seeds: '{text}' is not like 42-51 or 42,43");
        }
        catch (OverflowException)
        {
            throw new FormatException($"--seeds: '{text}' is not like 42-51 or 42,43");
        }
    }
}
