namespace Scheduler.Client;

/// <summary>Metadata keys shared by masters and clients.</summary>
public static class SchedulerMetadata
{
    /// <summary>Trailer a standby master sets on FAILED_PRECONDITION: the URL of the current leader, or "none" mid-election (anything that is not a URL means no leader is known yet).</summary>
    public const string LeaderTrailer = "x-scheduler-leader";

    /// <summary>Trailer a busy master sets on RESOURCE_EXHAUSTED: milliseconds to wait before sending the same request again.</summary>
    public const string RetryAfterTrailer = "retry-after-ms";
}
