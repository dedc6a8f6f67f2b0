namespace Scheduler.Master.Scheduling;

/// <summary>
/// Job ids and submission sequence numbers: `j-000042` for sequence 42. A term continues after the
/// highest sequence it loaded; a number is only used once the job is stored (a refused write leaves
/// it for the next submit).
/// </summary>
internal sealed class JobIds
{
    private long _next = 1;

    /// <summary>The sequence the next stored job gets.</summary>
    public long Peek => _next;

    public static string Of(long sequence) => $"j-{sequence:D6}";

    /// <summary>A loaded job: numbering continues after it.</summary>
    public void Observe(long sequence) => _next = Math.Max(_next, sequence + 1);

    /// <summary>The job with <see cref="Peek"/> was stored.</summary>
    public void Used() => _next++;
}
