namespace Scheduler.Master.Telemetry;

/// <summary>
/// Pending reasons are sentences with counts and names in them; a metric label needs a small fixed
/// set, so each reason is filed under the kind of obstacle it names.
/// </summary>
internal static class PendingReasons
{
    public static readonly string[] All = ["not_scheduled_yet", "no_nodes", "no_fit", "too_large", "reserved", "quota", "preempting", "gang", "other"];

    public static string Category(string reason) => reason switch
    {
        "" or "waiting for the next scheduling pass" => "not_scheduled_yet",
        _ when reason.StartsWith("preempting", StringComparison.Ordinal) => "preempting",
        _ when reason.Contains("; reserved ", StringComparison.Ordinal) => "reserved",
        _ when reason.StartsWith("no nodes registered", StringComparison.Ordinal) => "no_nodes",
        _ when reason.StartsWith("fits no node's total capacity", StringComparison.Ordinal) => "too_large",
        _ when reason.StartsWith("no node fits", StringComparison.Ordinal) => "no_fit",
        _ when reason.Contains("quota exceeded", StringComparison.Ordinal) => "quota",
        _ when reason.Contains("gang", StringComparison.OrdinalIgnoreCase) => "gang",
        _ => "other",
    };
}
