using System.Threading.Channels;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Workers;

/// <summary>
/// One live Connect stream. Commands go through a bounded channel to the stream's single writer
/// loop (IServerStreamWriter is not thread-safe). A worker that stops reading until the channel
/// fills is cut off rather than allowed to make the scheduling loop wait.
/// The stream's reader notes when it last heard from the worker (<see cref="Heard"/>) and
/// acknowledges heartbeats itself, off the scheduling loop: a loop that falls behind neither makes
/// its workers fence nor judges them silent, since its failure detector reads <see cref="LastHeard"/>.
/// </summary>
internal sealed class WorkerSession : IDisposable
{
    private const int CommandBacklog = 4096;
    private static long s_nextId;
    private readonly Channel<MasterCommand> _commands = Channel.CreateBounded<MasterCommand>(
        new BoundedChannelOptions(CommandBacklog) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly CancellationTokenSource _closed = new();

    // Orders a heartbeat's acknowledgement against the loop closing the session as silent: once
    // closed, nothing more is acknowledged; once acknowledged, the loop sees the newer time.
    private readonly Lock _gate = new();
    private long _lastHeardTicks;

    public WorkerSession(string nodeId, string peer)
    {
        NodeId = nodeId;
        Peer = peer;
        Id = Interlocked.Increment(ref s_nextId);
    }

    public string NodeId { get; }

    public string Peer { get; }

    public long Id { get; }

    public ChannelReader<MasterCommand> Commands => _commands.Reader;

    /// <summary>Cancelled when the master closes this session (replaced, declared dead, overflowed).</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>When a message from the worker last arrived on this stream; null before any.</summary>
    public DateTimeOffset? LastHeard => Volatile.Read(ref _lastHeardTicks) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>
    /// A message arrived at <paramref name="at"/>; a heartbeat's <paramref name="acknowledgement"/> is
    /// queued at once. False, with nothing acknowledged, once the session is closed.
    /// </summary>
    public bool Heard(DateTimeOffset at, MasterCommand? acknowledgement = null)
    {
        bool overflowed;
        lock (_gate)
        {
            if (_closed.IsCancellationRequested)
            {
                return false;
            }

            if (at.UtcTicks > Volatile.Read(ref _lastHeardTicks))
            {
                Volatile.Write(ref _lastHeardTicks, at.UtcTicks);
            }

            overflowed = acknowledgement is not null && !_commands.Writer.TryWrite(acknowledgement);
        }

        if (overflowed)
        {
            Close();
            return false;
        }

        return true;
    }

    /// <summary>
    /// Closes the session as silent unless the worker was heard after <paramref name="heardAt"/> (the
    /// time the silence was judged from); false when it was, and the session stays open.
    /// </summary>
    public bool CloseIfNotHeardAfter(DateTimeOffset heardAt)
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _lastHeardTicks) > heardAt.UtcTicks)
            {
                return false;
            }

            Close();
            return true;
        }
    }

    /// <summary>
    /// Queues a command; false (and the session is closed) when the worker has fallen too far behind.
    /// A command for a session already closed (its stream broke) is dropped and is no overflow: the
    /// stream's disconnection is on its way to the loop. Reporting those as "not reading its commands"
    /// named a thousand nodes at once when an overloaded master's streams broke.
    /// </summary>
    public bool Send(MasterCommand command)
    {
        if (_commands.Writer.TryWrite(command) || _closed.IsCancellationRequested)
        {
            return true;
        }

        Close();
        return false;
    }

    public void Close()
    {
        lock (_gate)
        {
            _commands.Writer.TryComplete();
            try
            {
                _closed.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        Close();
        _closed.Dispose();
    }
}
