namespace Scheduler.Worker.Link;

/// <summary>
/// The HTTP/2 connections to the masters, shared by the links of a process that hosts many
/// simulated nodes: each node keeps its own stream (and its node id, which the process's
/// certificate covers), but a hundred streams ride one connection instead of one TLS connection
/// per node. 5,000 nodes with a connection and a handshake each did not converge on one master.
/// A link of a real node (one per process) keeps a connection of its own.
/// </summary>
internal sealed class MasterConnections : IDisposable
{
    public MasterConnections(Scheduler.Hosting.ClusterTls? tls)
    {
        var keepAlive = LinkKeepAlive.For(null);
        Handler = MasterLink.NewHandler(tls, keepAlive);
        Handler.EnableMultipleHttp2Connections = true;
    }

    /// <summary>Disposed with this object, never by a channel.</summary>
    public SocketsHttpHandler Handler { get; }

    public void Dispose() => Handler.Dispose();
}
