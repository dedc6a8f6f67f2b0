namespace Scheduler.Core.Queueing;

/// <summary>
/// The earliest time <see cref="JobId"/> is expected to fit on <see cref="NodeId"/>, given the
/// expected end of what runs there. Backfill starts nothing that would push it later.
/// </summary>
public sealed record Reservation(string JobId, string NodeId, DateTimeOffset At);
