using System.Diagnostics;
using System.Threading.Channels;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The loop's inbox: gRPC handlers and worker streams post events from any thread; the loop alone
/// takes them, in batches, so one batch is followed by at most one scheduling pass and one view.
/// Closing it answers every event still waiting, so no caller waits for a loop that has stopped.
/// Submissions are bounded (<see cref="MaxSubmits"/>): past it a submit is refused and its caller told
/// to come back later, so a burst cannot grow the master's memory without end. Every other event
/// (worker messages, exits, ticks, operator requests) is always taken: refusing one would lose what
/// a worker reported or stall the control plane behind a flood of users.
/// </summary>
internal sealed class EventInbox
{
    /// <summary>Events handled before the loop runs a pass and publishes a view.</summary>
    public const int MaxBatch = 512;

    /// <summary>The most events one batch takes from the channel (submissions held back included).</summary>
    public const int MaxTaken = 8 * MaxBatch;

    /// <summary>The default of <see cref="MasterOptions.MaxPendingSubmits"/>.</summary>
    public const int DefaultMaxSubmits = 10_000;

    private readonly Channel<Posted> _channel = Channel.CreateUnbounded<Posted>(new UnboundedChannelOptions { SingleReader = true });
    // Submissions read past while taking a batch, waiting for the next ones in order; the loop's alone.
    private readonly Queue<Posted> _held = new();
    private int _depth;
    private int _submits;

    public EventInbox(int maxSubmits = DefaultMaxSubmits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSubmits, 1);
        MaxSubmits = maxSubmits;
    }

    /// <summary>The most submissions the inbox holds at once.</summary>
    public int MaxSubmits { get; }

    /// <summary>Submissions waiting now; read from any thread.</summary>
    public int Submits => Volatile.Read(ref _submits);

    /// <summary>Events waiting now; read from any thread (metrics).</summary>
    public int Depth => Volatile.Read(ref _depth);

    /// <summary>When the oldest event of the last batch was posted (a Stopwatch timestamp): the loop's lag is measured from it.</summary>
    public long BatchPostedAt { get; private set; }

    /// <summary>False once the inbox is closed (the term ended or the master stops), or when a submission finds it full.</summary>
    public bool Post(IMasterEvent e) => Offer(e) == PostOutcome.Posted;

    /// <summary>Posts <paramref name="e"/>; only a <see cref="SubmitJob"/> or <see cref="SubmitJobBatch"/> can be refused as <see cref="PostOutcome.Full"/>.</summary>
    public PostOutcome Offer(IMasterEvent e)
    {
        var submits = SubmitsIn(e);

        // A batch larger than the bound is still taken into an empty inbox, or it could never be.
        if (submits > 0 && Interlocked.Add(ref _submits, submits) is var waiting && waiting > MaxSubmits && waiting != submits)
        {
            Interlocked.Add(ref _submits, -submits);
            return PostOutcome.Full;
        }

        Interlocked.Increment(ref _depth);
        if (_channel.Writer.TryWrite(new Posted(e, Stopwatch.GetTimestamp())))
        {
            return PostOutcome.Posted;
        }

        Interlocked.Decrement(ref _depth);
        Interlocked.Add(ref _submits, -submits);
        return PostOutcome.Closed;
    }

    /// <summary>Waits until an event is there; false once closed and empty.</summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken) =>
        _held.Count > 0 ? ValueTask.FromResult(true) : _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>
    /// The events that are there when it is called, without waiting: every one but submissions (up to
    /// <see cref="MaxTaken"/>), and at most <see cref="MaxBatch"/> submissions, oldest first. Submissions
    /// beyond that wait, in order, for the next batches, while what comes after them (heartbeats,
    /// agents' reports, requests) is still handled now: a burst of submits cannot hold back a worker's
    /// heartbeat until its node is judged silent. Events posted while the batch is handled wait for the
    /// next one: a caller answered in one batch and posting again finds that batch's pass and view
    /// published before it is handled.
    /// </summary>
    public IEnumerable<IMasterEvent> TakeBatch()
    {
        var first = true;
        var submits = 0;
        while (submits < MaxBatch && _held.TryDequeue(out var waiting))
        {
            submits += SubmitsIn(waiting.Event);
            Taken(waiting.Event);
            if (first)
            {
                BatchPostedAt = waiting.At;
                first = false;
            }

            yield return waiting.Event;
        }

        var there = Math.Min(MaxTaken, Depth - _held.Count);
        for (var taken = 0; taken < there && _channel.Reader.TryRead(out var posted); taken++)
        {
            if (SubmitsIn(posted.Event) > 0 && (submits >= MaxBatch || _held.Count > 0))
            {
                // Still counted as waiting (depth and bound) until it is taken.
                _held.Enqueue(posted);
                continue;
            }

            submits += SubmitsIn(posted.Event);
            Taken(posted.Event);
            if (first)
            {
                BatchPostedAt = posted.At;
                first = false;
            }

            yield return posted.Event;
        }
    }

    /// <summary>Closes the inbox and fails every event still in it with <paramref name="error"/>.</summary>
    public void Close(Grpc.Core.RpcException error)
    {
        _channel.Writer.TryComplete();
        while (_held.TryDequeue(out var held))
        {
            Taken(held.Event);
            Fail(held.Event, error);
        }

        while (_channel.Reader.TryRead(out var unanswered))
        {
            Taken(unanswered.Event);
            Fail(unanswered.Event, error);
        }
    }

    /// <summary>Answers a request event with <paramref name="error"/>; other events have nobody waiting.</summary>
    public static void Fail(IMasterEvent e, Grpc.Core.RpcException error)
    {
        switch (e)
        {
            case SubmitJob s: s.Reply.TrySetException(error); break;
            case SubmitJobBatch b: b.Reply.TrySetException(error); break;
            case CancelJob c: c.Reply.TrySetException(error); break;
            case MigrateJob m: m.Reply.TrySetException(error); break;
            case SuspendJob s: s.Reply.TrySetException(error); break;
            case ResumeJob r: r.Reply.TrySetException(error); break;
            case TakeSnapshot t: t.Reply.TrySetException(error); break;
            case RestoreSnapshot r: r.Reply.TrySetException(error); break;
            case ChangeNode n: n.Reply.TrySetException(error); break;
            case FetchJobLogs f: f.Reply.TrySetException(error); break;
            case ExplainJob x: x.Reply.TrySetException(error); break;
        }
    }

    private void Taken(IMasterEvent e)
    {
        Interlocked.Decrement(ref _depth);
        Interlocked.Add(ref _submits, -SubmitsIn(e));
    }

    /// <summary>How many submissions <paramref name="e"/> counts for against <see cref="MaxSubmits"/>.</summary>
    private static int SubmitsIn(IMasterEvent e) => e switch
    {
        SubmitJob => 1,
        SubmitJobBatch batch => batch.Request.Items.Count,
        _ => 0,
    };

    private readonly record struct Posted(IMasterEvent Event, long At);
}
