using System.Globalization;
using Scheduler.Core.Placement;

namespace Scheduler.Simulation;

/// <summary>The parsed arguments of <see cref="SimCli"/>.</summary>
internal sealed record SimOptions(string Nodes, string Tasks, IReadOnlyList<string> Policies, IReadOnlyList<int> Seeds, bool Json, bool ReplayInTime, string? Suite = null)
{
    public static bool TryParse(string[] args, out SimOptions options, out string error)
    {
        options = null!;
        string? nodes = null, tasks = null, policy = null, seeds = null, format = null, suite = null;
        var replayInTime = true;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--no-time")
            {
                replayInTime = false;
                continue;
            }

            if (a is not ("--nodes" or "--tasks" or "--policy" or "--seeds" or "-o" or "--output" or "--suite"))
            {
                error = $"unknown argument '{a}'";
                return false;
            }

            if (i + 1 >= args.Length)
            {
                error = $"{a} needs a value";
                return false;
            }

            var v = args[++i];
            switch (a)
            {
                case "--nodes": nodes = v; break;
                case "--tasks": tasks = v; break;
                case "--policy": policy = v; break;
                case "--seeds": seeds = v; break;
                case "--suite": suite = v; break;
                default: format = v; break;
            }
        }

        if (suite is not null && (nodes is not null || tasks is not null))
        {
            error = "--suite takes its node and task lists from its folder: give it without --nodes and --tasks";
            return false;
        }

        if (suite is null && (nodes is null || tasks is null))
        {
            error = "--nodes and --tasks are required (or --suite DIR)";
            return false;
        }

        if (format is not (null or "table" or "json"))
        {
            error = $"-o must be 'table' or 'json', not '{format}'";
            return false;
        }

        IReadOnlyList<string> policies;
        if (policy is null)
        {
            policies = suite is null ? [PlacementPolicies.Default] : SimSuite.DefaultPolicies;
        }
        else if (policy == "all")
        {
            policies = PlacementPolicies.Names;
        }
        else
        {
            policies = policy.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var unknown = policies.FirstOrDefault(p => !PlacementPolicies.IsKnown(p));
            if (unknown is not null || policies.Count == 0)
            {
                error = $"--policy: unknown policy '{unknown}'; known: {string.Join(", ", PlacementPolicies.Names)}, or all";
                return false;
            }
        }

        if (!TryParseSeeds(seeds ?? "42-51", out var seedList))
        {
            error = $"--seeds: '{seeds}' is not a seed, a range A-B or a comma list";
            return false;
        }

        options = new SimOptions(nodes ?? string.Empty, tasks ?? string.Empty, policies, seedList, format == "json", replayInTime && suite is null, suite);
        error = string.Empty;
        return true;
    }

    private static bool TryParseSeeds(string text, out IReadOnlyList<int> seeds)
    {
        var list = new List<int>();
        seeds = list;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', 1);
            if (dash > 0)
            {
                if (!int.TryParse(part[..dash], NumberStyles.Integer, CultureInfo.InvariantCulture, out var from)
                    || !int.TryParse(part[(dash + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var to)
                    || to < from || to - from >= 10_000)
                {
                    return false;
                }

                for (var s = from; s <= to; s++)
                {
                    list.Add(s);
                }
            }
            else if (int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var one))
            {
                list.Add(one);
            }
            else
            {
                return false;
            }
        }

        return list.Count > 0;
    }
}
