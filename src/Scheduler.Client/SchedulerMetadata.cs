namespace Scheduler.Client;

/// <summary>Metadata keys shared by masters and clients.</summary>
public static class SchedulerMetadata
{
    /// <summary>Trailer a standby master sets on FAILED_PRECONDITION: the URL of the current leader, or "none" mid-election (anything that is not a URL means no leader is known yet).</summary>
    public const string LeaderTrailer = "x-scheduler-leader";
}
