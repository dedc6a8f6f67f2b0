using System.Threading.Channels;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Workers;

/// <summary>
/// One live Connect stream. Commands go through a bounded channel to the stream's single writer
/// loop (IServerStreamWriter is not thread-safe). A worker that stops reading until the channel
/// fills is cut off rather than allowed to make the scheduling loop wait.
/// </summary>
internal sealed class WorkerSession : IDisposable
{
    private const int CommandBacklog = 4096;
    private static long s_nextId;
    private readonly Channel<MasterCommand> _commands = Channel.CreateBounded<MasterCommand>(
        new BoundedChannelOptions(CommandBacklog) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly CancellationTokenSource _closed = new();

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
        _commands.Writer.TryComplete();
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        Close();
        _closed.Dispose();
    }
}
