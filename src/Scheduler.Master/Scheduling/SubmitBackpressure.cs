using System.Globalization;
using Grpc.Core;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The answer to a submit that finds the inbox full: RESOURCE_EXHAUSTED, nothing stored, and a hint
/// of when to come back, both in the detail (for people) and in the <see cref="RetryAfterTrailer"/>
/// trailer (for clients, which retry after it with the same request id).
/// </summary>
internal static class SubmitBackpressure
{
    /// <summary>Trailer with the milliseconds a refused caller should wait before submitting again.</summary>
    public const string RetryAfterTrailer = "retry-after-ms";

    private static readonly TimeSpan MinHint = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxHint = TimeSpan.FromSeconds(5);

    /// <summary>The loop's last lag as a wait, kept between 50 ms (not a busy loop of retries) and 5 s.</summary>
    public static TimeSpan Hint(TimeSpan lastLag) => lastLag < MinHint ? MinHint : lastLag > MaxHint ? MaxHint : lastLag;

    public static RpcException Refusal(int maxSubmits, TimeSpan hint)
    {
        var ms = (long)Math.Ceiling(hint.TotalMilliseconds);
        var detail = $"the master holds {maxSubmits.ToString(CultureInfo.InvariantCulture)} submissions waiting to be scheduled (--max-pending-submits); nothing was stored: retry after {ms.ToString(CultureInfo.InvariantCulture)} ms with the same request_id";
        return new RpcException(new Status(StatusCode.ResourceExhausted, detail), new Metadata { { RetryAfterTrailer, ms.ToString(CultureInfo.InvariantCulture) } });
    }
}
