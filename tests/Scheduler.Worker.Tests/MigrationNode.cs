using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Link;
using Scheduler.Worker.Migration;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>
/// One worker's stack without a master link: real agents, the checkpoint transfer service on its own
/// Kestrel port, and the command dispatcher the master's commands go through, so a test plays the
/// master for two nodes in one process.
/// </summary>
internal sealed class MigrationNode : IAsyncDisposable
{
    private readonly CommandDispatcher _dispatcher;
    private readonly HeartbeatSender _heartbeats;
    private readonly Channel<WorkerMessage> _sent = Channel.CreateUnbounded<WorkerMessage>();
    private readonly Channel<AgentStatus> _events = Channel.CreateUnbounded<AgentStatus>();
    private readonly RecordingLogger _sourceLog = new();

    private MigrationNode(string nodeId, string dataDir, AgentLauncher launcher, TransferServer server, MigrationSourceOptions? options)
    {
        NodeId = nodeId;
        DataDir = dataDir;
        Server = server;
        Agents = new AgentSupervisor(dataDir, nodeId, launcher, TimeProvider.System, NullLogger.Instance);
        Agents.Changed += s => _events.Writer.TryWrite(s);
        var checkpoints = new AgentCheckpoints(Agents, new AppLevelCheckpointer(TimeProvider.System), NullLogger.Instance);
        var source = new MigrationSource(Agents, checkpoints, TimeProvider.System, _sourceLog, options);
        Migration = new WorkerMigration(
            new MigrationTarget(server.Authorizations, server.Migrations, Agents, TimeProvider.System, NullLogger.Instance),
            source,
            new CheckpointShipper(nodeId, Agents, checkpoints, source, server.Migrations.RestoreRoot, TimeProvider.System, NullLogger.Instance, options));
        var fencing = new FencingWatchdog(nodeId, Agents, null, TimeProvider.System);
        _dispatcher = new CommandDispatcher(nodeId, new EpochStore(dataDir), Agents, fencing, _ => { }, _ => { },
            m => _sent.Writer.TryWrite(m), Migration, NullLogger.Instance);
        _heartbeats = new HeartbeatSender(new NoGpuProbe(), Agents, dataDir, TimeSpan.FromSeconds(1), TimeProvider.System);
    }

    public string NodeId { get; }

    public string DataDir { get; }

    public TransferServer Server { get; }

    public AgentSupervisor Agents { get; }

    public WorkerMigration Migration { get; }

    /// <summary>What the migration source logged at Information and above, formatted.</summary>
    public IReadOnlyCollection<string> SourceLog => _sourceLog.Lines;

    /// <summary>host:port, as a worker reports it at registration.</summary>
    public string TransferAddress => Server.Address;

    public static async Task<MigrationNode> StartAsync(string nodeId, string dataDir, AgentLauncher launcher, CancellationToken ct, MigrationSourceOptions? options = null)
    {
        Directory.CreateDirectory(dataDir);
        var server = await TransferServer.StartAsync(dataDir, TimeProvider.System, ct);
        return new MigrationNode(nodeId, dataDir, launcher, server, options);
    }

    public Task HandleAsync(MasterCommand command, CancellationToken ct)
    {
        command.Epoch = 1;
        return _dispatcher.HandleAsync(command, _sent.Writer, _heartbeats, ct);
    }

    /// <summary>The next message this node sent (to the master) that matches, waiting at most <paramref name="timeout"/>.</summary>
    public Task<WorkerMessage> SentAsync(Func<WorkerMessage, bool> match, TimeSpan timeout) => NextAsync(_sent.Reader, match, timeout);

    public Task<AgentStatus> EventAsync(Func<AgentStatus, bool> match, TimeSpan timeout) => NextAsync(_events.Reader, match, timeout);

    public async ValueTask DisposeAsync()
    {
        // Every agent killed by PID (group and process), whatever the test left behind.
        Agents.Fence("test teardown");
        await Scheduler.Tests.Common.Eventually.TrueAsync(() => Agents.LiveCount == 0, $"every agent of {NodeId} to exit");
        await Migration.Checkpoints.DisposeAsync();
        await Migration.Source.DisposeAsync();
        await Server.DisposeAsync();
    }

    private static async Task<T> NextAsync<T>(ChannelReader<T> reader, Func<T, bool> match, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            var item = await reader.ReadAsync(deadline.Token);
            if (match(item))
            {
                return item;
            }
        }
    }

    private sealed class RecordingLogger : ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                _lines.Enqueue(formatter(state, exception));
            }
        }
    }
}
