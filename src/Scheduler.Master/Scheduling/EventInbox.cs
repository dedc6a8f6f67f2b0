using System.Diagnostics;
using System.Threading.Channels;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The loop's inbox: gRPC handlers and worker streams post events from any thread; the loop alone
/// takes them, in batches, so one batch is followed by at most one scheduling pass and one view.
/// Closing it answers every event still waiting, so no caller waits for a loop that has stopped.
/// </summary>
internal sealed class EventInbox
{
    /// <summary>Events handled before the loop runs a pass and publishes a view.</summary>
    public const int MaxBatch = 512;

    private readonly Channel<Posted> _channel = Channel.CreateUnbounded<Posted>(new UnboundedChannelOptions { SingleReader = true });
    private int _depth;

    /// <summary>Events waiting now; read from any thread (metrics).</summary>
    public int Depth => Volatile.Read(ref _depth);

    /// <summary>When the oldest event of the last batch was posted (a Stopwatch timestamp): the loop's lag is measured from it.</summary>
    public long BatchPostedAt { get; private set; }

    /// <summary>False once the inbox is closed (the term ended or the master stops).</summary>
    public bool Post(IMasterEvent e)
    {
        Interlocked.Increment(ref _depth);
        if (_channel.Writer.TryWrite(new Posted(e, Stopwatch.GetTimestamp())))
        {
            return true;
        }

        Interlocked.Decrement(ref _depth);
        return false;
    }

    /// <summary>Waits until an event is there; false once closed and empty.</summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>
    /// Up to <see cref="MaxBatch"/> of the events that are there when it is called, without waiting.
    /// Events posted while the batch is handled wait for the next one: a caller answered in one batch
    /// and posting again finds that batch's pass and view published before it is handled.
    /// </summary>
    public IEnumerable<IMasterEvent> TakeBatch()
    {
        var there = Math.Min(MaxBatch, Depth);
        for (var taken = 0; taken < there && _channel.Reader.TryRead(out var posted); taken++)
        {
            Interlocked.Decrement(ref _depth);
            if (taken == 0)
            {
                BatchPostedAt = posted.At;
            }

            yield return posted.Event;
        }
    }

    /// <summary>Closes the inbox and fails every event still in it with <paramref name="error"/>.</summary>
    public void Close(Grpc.Core.RpcException error)
    {
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var unanswered))
        {
            Interlocked.Decrement(ref _depth);
            Fail(unanswered.Event, error);
        }
    }

    /// <summary>Answers a request event with <paramref name="error"/>; other events have nobody waiting.</summary>
    public static void Fail(IMasterEvent e, Grpc.Core.RpcException error)
    {
        switch (e)
        {
            case SubmitJob s: s.Reply.TrySetException(error); break;
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

    private readonly record struct Posted(IMasterEvent Event, long At);
}
