namespace Scheduler.Master.Scheduling;

/// <summary>What became of an event offered to the inbox.</summary>
internal enum PostOutcome
{
    Posted,

    /// <summary>The inbox is closed: this loop's term ended or the master stops.</summary>
    Closed,

    /// <summary>A submission found the inbox holding its most submissions already.</summary>
    Full,
}
