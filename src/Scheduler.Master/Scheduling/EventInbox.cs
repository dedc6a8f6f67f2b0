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

    private readonly Channel<IMasterEvent> _channel = Channel.CreateUnbounded<IMasterEvent>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>False once the inbox is closed (the term ended or the master stops).</summary>
    public bool Post(IMasterEvent e) => _channel.Writer.TryWrite(e);

    /// <summary>Waits until an event is there; false once closed and empty.</summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Up to <see cref="MaxBatch"/> events that are there now, without waiting.</summary>
    public IEnumerable<IMasterEvent> TakeBatch()
    {
        for (var taken = 0; taken < MaxBatch && _channel.Reader.TryRead(out var e); taken++)
        {
            yield return e;
        }
    }

    /// <summary>Closes the inbox and fails every event still in it with <paramref name="error"/>.</summary>
    public void Close(Grpc.Core.RpcException error)
    {
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var unanswered))
        {
            Fail(unanswered, error);
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
            case ChangeNode n: n.Reply.TrySetException(error); break;
            case FetchJobLogs f: f.Reply.TrySetException(error); break;
            case ExplainJob x: x.Reply.TrySetException(error); break;
        }
    }
}
