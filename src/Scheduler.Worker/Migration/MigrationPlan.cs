using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>A <see cref="MigrateAgent"/> command, validated, with the protocol's defaults filled in.</summary>
internal sealed record MigrationPlan(string MigrationId, AgentKey Agent, string TargetAddress, Uri Target, string Token, int MaxRounds, long FinalDeltaBytes)
{
    public const int DefaultMaxRounds = 5;
    public const long DefaultFinalDeltaBytes = 8L * 1024 * 1024;

    /// <summary>The plan, or the error naming the field that makes it impossible.</summary>
    public static MigrationPlan? TryFrom(MigrateAgent command, out string error)
    {
        error = "";
        if (!MigrationIds.IsValid(command.MigrationId))
        {
            error = $"migration_id: '{command.MigrationId}' is not one path component of letters, digits, '.', '_' or '-'";
        }
        else if (command.JobId.Length == 0)
        {
            error = "job_id: required";
        }
        else if (command.Token.Length == 0)
        {
            error = "token: required";
        }
        else if (TargetUri(command.TargetAddress) is not { } target)
        {
            error = $"target_address: '{command.TargetAddress}' is not host:port";
        }
        else
        {
            return new MigrationPlan(
                command.MigrationId,
                new AgentKey(command.JobId, command.Attempt),
                command.TargetAddress,
                target,
                command.Token,
                command.MaxRounds > 0 ? command.MaxRounds : DefaultMaxRounds,
                command.FinalDeltaBytes > 0 ? command.FinalDeltaBytes : DefaultFinalDeltaBytes);
        }

        return null;
    }

    /// <summary>Workers report their transfer address as host:port; the service speaks HTTP/2 cleartext.</summary>
    internal static Uri? TargetUri(string address)
    {
        if (address.Length == 0)
        {
            return null;
        }

        var url = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0
            ? uri
            : null;
    }
}
