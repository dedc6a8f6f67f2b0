namespace Scheduler.Worker.Link;

/// <summary>
/// The HTTP/2 connections to the masters, shared by the links of a process that hosts many
/// simulated nodes: each node keeps its own stream (and its node id, which the process's
/// certificate covers), but up to <see cref="DefaultLinksPerConnection"/> streams ride one
/// connection instead of one TLS connection per node. 5,000 nodes with a connection and a handshake
/// each did not converge on one master. Each group of links gets a handler of its own that opens a
/// single connection: one handler for all, allowed several connections, opened about one for every
/// three streams (1,700 connections for 5,300 nodes) as links raced its first connections. A link of
/// a real node (one per process) keeps a connection of its own.
/// </summary>
internal sealed class MasterConnections : IDisposable
{
    /// <summary>Below Kestrel's 100 streams a connection, so a stream replacing one that has not yet closed still fits.</summary>
    internal const int DefaultLinksPerConnection = 90;

    private readonly Lock _lock = new();
    private readonly List<SocketsHttpHandler> _handlers = [];
    private readonly Scheduler.Hosting.ClusterTls? _tls;
    private readonly int _linksPerConnection;
    private int _links;

    public MasterConnections(Scheduler.Hosting.ClusterTls? tls, int linksPerConnection = DefaultLinksPerConnection)
    {
        _tls = tls;
        _linksPerConnection = Math.Max(1, linksPerConnection);
    }

    /// <summary>The handler (one connection per master) a new link uses for all its sessions; disposed with this object, never by a channel.</summary>
    public SocketsHttpHandler Assign()
    {
        lock (_lock)
        {
            var group = _links++ / _linksPerConnection;
            if (group == _handlers.Count)
            {
                var handler = MasterLink.NewHandler(_tls, LinkKeepAlive.ForShared(null));
                handler.EnableMultipleHttp2Connections = false;
                _handlers.Add(handler);
            }

            return _handlers[group];
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var handler in _handlers)
            {
                handler.Dispose();
            }

            _handlers.Clear();
        }
    }
}
