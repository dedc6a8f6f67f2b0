using Grpc.Core;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl logs --follow`: polls the tail of a job's output and prints what is new until the job
/// finishes. The API only serves tails, so new output is found by aligning each tail with the last one.
/// </summary>
internal sealed class LogFollower
{
    private const int MaxTailBytes = 4 * 1024 * 1024;
    private const int AnchorBytes = 4096;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly SchedulerClient _client;
    private readonly TextWriter _out;
    private readonly string _jobId;
    private readonly LogStream _stream;
    private byte[] _previous = [];
    private bool _previousWhole;
    private int _attempt;

    public LogFollower(SchedulerClient client, TextWriter output, string jobId, LogStream stream)
    {
        _client = client;
        _out = output;
        _jobId = jobId;
        _stream = stream;
    }

    public async Task RunAsync(int initialTailBytes, CancellationToken ct)
    {
        var tail = initialTailBytes;
        while (true)
        {
            var job = await _client.GetJobAsync(_jobId, ct);
            var finished = job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
            if (job.NodeId.Length > 0 && job.State is not (JobState.Pending or JobState.Assigned))
            {
                if (await TryFetchAsync(tail, finished, ct) is { } logs)
                {
                    await PrintNewAsync(logs);
                    tail = MaxTailBytes;
                }
            }

            if (finished)
            {
                return;
            }

            await Task.Delay(PollInterval, ct);
        }
    }

    /// <summary>
    /// Where the output added since the previous tail starts in the current one; exact while the whole log fits in
    /// one tail. Beyond that the end of the previous tail is looked up, which can only go wrong for output that
    /// repeats the same several KiB; <paramref name="gap"/> says the two tails did not overlap at all.
    /// </summary>
    internal static int NewStart(ReadOnlySpan<byte> previous, bool previousWhole, ReadOnlySpan<byte> current, out bool gap)
    {
        gap = false;
        if (previous.IsEmpty || (previousWhole && current.StartsWith(previous)))
        {
            return previous.Length;
        }

        var anchor = previous[^Math.Min(previous.Length, AnchorBytes)..];
        var at = current.LastIndexOf(anchor);
        if (at >= 0)
        {
            return at + anchor.Length;
        }

        gap = true;
        return 0;
    }

    private async Task<GetLogsResponse?> TryFetchAsync(int tail, bool finished, CancellationToken ct)
    {
        try
        {
            return await _client.GetLogsAsync(_jobId, _stream, tail, ct);
        }
        catch (RpcException ex) when (!finished && ex.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound or StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            // The worker may be starting the agent, or gone while the job is requeued: the next poll catches up.
            return null;
        }
    }

    private async Task PrintNewAsync(GetLogsResponse logs)
    {
        var current = logs.Data.ToByteArray();
        if (logs.Attempt != _attempt)
        {
            if (_attempt != 0)
            {
                await _out.WriteLineAsync($"[attempt {logs.Attempt} on {logs.NodeId}]");
            }

            _attempt = logs.Attempt;
            _previous = [];
            _previousWhole = true;
            if (logs.Truncated)
            {
                await _out.WriteLineAsync("[... earlier output truncated]");
            }
        }

        var start = NewStart(_previous, _previousWhole, current, out var gap);
        if (gap)
        {
            await _out.WriteLineAsync("[... output skipped]");
        }

        if (start < current.Length)
        {
            await _out.WriteAsync(System.Text.Encoding.UTF8.GetString(current, start, current.Length - start));
            await _out.FlushAsync();
        }

        _previous = current;
        _previousWhole = !logs.Truncated;
    }
}
