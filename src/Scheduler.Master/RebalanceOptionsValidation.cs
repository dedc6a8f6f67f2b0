using Microsoft.Extensions.Options;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master;

/// <summary>Checks the rebalancing settings at start, each error naming its flag and its setting.</summary>
internal sealed class RebalanceOptionsValidation : IValidateOptions<MasterOptions>
{
    public const int MaxIntervalSeconds = 86_400;
    public const int MaxMigrations = 1000;

    public ValidateOptionsResult Validate(string? name, MasterOptions options)
    {
        var failures = new List<string>();
        if (!RebalanceModes.All.Contains(options.Rebalance, StringComparer.Ordinal))
        {
            failures.Add($"--rebalance (Master:Rebalance) must be one of {string.Join(", ", RebalanceModes.All)}; got '{options.Rebalance}'");
        }

        if (options.RebalanceIntervalSeconds is < 1 or > MaxIntervalSeconds)
        {
            failures.Add($"--rebalance-interval-s (Master:RebalanceIntervalSeconds) must be 1 to {MaxIntervalSeconds} seconds; got {options.RebalanceIntervalSeconds}");
        }

        var perRunValid = Check(failures, "--rebalance-max-per-run (Master:RebalanceMaxPerRun)", options.RebalanceMaxPerRun);
        var inFlightValid = Check(failures, "--rebalance-max-in-flight (Master:RebalanceMaxInFlight)", options.RebalanceMaxInFlight);
        if (perRunValid && inFlightValid && options.RebalanceMaxPerRun > options.RebalanceMaxInFlight)
        {
            failures.Add($"--rebalance-max-per-run ({options.RebalanceMaxPerRun}) cannot exceed --rebalance-max-in-flight ({options.RebalanceMaxInFlight}): a run never starts more migrations than may be under way");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool Check(List<string> failures, string flag, int value)
    {
        if (value is >= 1 and <= MaxMigrations)
        {
            return true;
        }

        failures.Add($"{flag} must be 1 to {MaxMigrations} migrations; got {value}");
        return false;
    }
}
