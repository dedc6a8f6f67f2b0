using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Polly;
using Polly.Retry;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Keeper;
using Scheduler.Worker.Migration;
using Scheduler.Worker.Telemetry;

namespace Scheduler.Worker.Link;

/// <summary>
/// This worker's one stream to the master: register, heartbeat, forward agent events, obey
/// commands. Reconnects with exponential backoff and jitter; a registered session that ends
/// starts the backoff over. Cut off for longer than the master waits before declaring it dead,
/// it kills its own agents, so a job the master has requeued never runs twice.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "RunAsync, which runs once, starts the fencing watchdog and disposes it when it returns.")]
internal sealed partial class MasterLink
{
    private static readonly TimeSpan AckWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(3);

    // A registration write can fail before the master's answer (a standby's hint) has been read.
    private static readonly TimeSpan StatusWait = TimeSpan.FromSeconds(1);
    private readonly WorkerIdentity _identity;
    private readonly IGpuProbe _probe;
    private readonly AgentSupervisor _agents;
    private readonly EpochStore _epochs;
    private readonly WorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AgentCgroups? _cgroups;
    private readonly bool _keeper;
    private readonly MasterAddressBook _book;
    private readonly ReconnectPolicy _reconnect;
    private readonly FencingWatchdog _fencing;
    private readonly CommandDispatcher _commands;
    private readonly WorkerMigration? _migration;
    private readonly Lock _lock = new();
    private readonly Queue<WorkerMessage> _undelivered = new();
    private SocketsHttpHandler? _sharedHandler;
    private bool _quietRetry;
    private TimeSpan _heartbeatInterval = TimeSpan.FromSeconds(1);
    private TimeSpan? _deadAfter;
    private int _unstableSessions;
    private readonly RepeatedWarnings _ownWarnings;
    private TimeSpan _reconnectCap;
    private Channel<WorkerMessage>? _outbox;
    private volatile bool _leaving;
    private readonly WorkerMetrics? _metrics;

    public MasterLink(
        WorkerIdentity identity,
        IGpuProbe probe,
        AgentSupervisor agents,
        WorkerOptions options,
        TimeProvider time,
        ILogger logger,
        AgentKeeper? keeper = null,
        AgentCgroups? cgroups = null,
        WorkerMigration? migration = null)
        : this(identity, probe, agents, options, time, logger, keeper, cgroups, Random.Shared, migration)
    {
    }

    internal MasterLink(
        WorkerIdentity identity,
        IGpuProbe probe,
        AgentSupervisor agents,
        WorkerOptions options,
        TimeProvider time,
        ILogger logger,
        AgentKeeper? keeper,
        AgentCgroups? cgroups,
        Random random,
        WorkerMigration? migration = null)
    {
        _migration = migration;
        _identity = identity;
        _probe = probe;
        _agents = agents;
        _epochs = new EpochStore(identity.DataDir);
        _options = options;
        _time = time;
        _logger = logger;
        _keeper = keeper is not null;
        _cgroups = cgroups;
        _book = new MasterAddressBook(options.Master
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(address => new Uri(address, UriKind.Absolute)));
        _reconnectCap = TimeSpan.FromMilliseconds(options.MaxReconnectDelayMs);
        _reconnect = new ReconnectPolicy(random);
        _ownWarnings = new RepeatedWarnings(time);
        _fencing = new FencingWatchdog(identity.NodeId, agents, keeper, time);
        _commands = new CommandDispatcher(identity.NodeId, _epochs, agents, _fencing, ApplyTimings, MarkContact, Send, migration, logger);
    }

    /// <summary>This node's certificate (shown to the master, which takes the node id from it) and the CA the master must chain to; null with --insecure.</summary>
    internal Scheduler.Hosting.ClusterTls? Tls { get; init; }

    /// <summary>The timer of this link's fencing watchdog, shared by the nodes of one process; null: a timer of its own.</summary>
    internal FencingTicker? Ticker { get; init; }

    /// <summary>Connections shared with the other simulated nodes of this process; null: a connection per session of its own.</summary>
    internal MasterConnections? Connections { get; init; }

    /// <summary>This link's handler among <see cref="Connections"/>, the same for all its sessions; null without them.</summary>
    private SocketsHttpHandler? SharedHandler()
    {
        if (Connections is null)
        {
            return null;
        }

        lock (_lock)
        {
            return _sharedHandler ??= Connections.Assign();
        }
    }

    /// <summary>The per-process limit on registrations in flight that this link waits on before each session; null: none (a real node, alone in its process).</summary>
    internal RegistrationGate? Registrations { get; init; }

    /// <summary>Rate limit of this link's stream-failure warnings; a host of many simulated nodes shares one.</summary>
    internal RepeatedWarnings? Warnings { get; init; }

    /// <summary>Where this node's heartbeats and starts are counted; null where nobody reads metrics.</summary>
    internal WorkerMetrics? Metrics
    {
        get => _metrics;
        init
        {
            _metrics = value;
            _commands.Metrics = value;
        }
    }

    /// <summary>
    /// Runs until <paramref name="stopping"/>; then leaves gracefully: tells the master to place
    /// nothing more here, stops the agents (reported as stopped by the host, so the master requeues
    /// them without using a retry), waits until the master has acknowledged every exit, and closes
    /// the stream. Bounded throughout: a master that does not answer gets the normal failure path.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var hard = new CancellationTokenSource();
        var connection = ConnectLoopAsync(hard.Token);
        _fencing.Start(Ticker);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, stopping);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            _leaving = true;
            LogLeaving(_identity.NodeId, _agents.LiveCount);
            CurrentOutbox()?.Writer.TryWrite(new WorkerMessage { Leaving = new Leaving { Reason = "worker shutting down" } });
            await _agents.StopAllAsync(TimeSpan.FromMilliseconds(_options.StopGraceMs), "worker shutting down", CancellationToken.None);
            await WaitAsync(() => _agents.UnacknowledgedCount == 0 || CurrentOutbox() is null, AckWait);

            // Completing the outbox ends the request stream; the master then ends the call.
            CurrentOutbox()?.Writer.TryComplete();
            await connection.WaitAsync(CloseWait, _time, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            await hard.CancelAsync();
            await _fencing.StopAsync(CancellationToken.None);
            await connection.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await _fencing.DisposeAsync();
        }
    }

    private async Task ConnectLoopAsync(CancellationToken ct)
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => !ct.IsCancellationRequested && !_leaving),
                MaxRetryAttempts = int.MaxValue,

                // Capped below the master's dead-after (learnt at registration): a restarted master
                // waits dead-after for its known workers, and this worker must be back within it.
                DelayGenerator = args => new ValueTask<TimeSpan?>(NextDelay()),
                OnRetry = args =>
                {
                    if (!TakeQuietRetry() && MayWarn())
                    {
                        LogRetry(args.AttemptNumber + 1, (long)args.RetryDelay.TotalMilliseconds, args.Outcome.Exception?.Message ?? "stream ended");
                    }

                    return default;
                },
            })
            .Build();
        while (!ct.IsCancellationRequested && !_leaving)
        {
            try
            {
                await pipeline.ExecuteAsync(SessionAsync, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception) when (_leaving)
            {
                return;
            }
        }
    }

    private bool FollowHint(Uri from, Uri leader)
    {
        lock (_lock)
        {
            return _book.OnHint(from, leader);
        }
    }

    private TimeSpan NextDelay()
    {
        lock (_lock)
        {
            return _reconnect.NextDelay(_book.RetryAtOnce, _book.NextInRound, _book.LastRoundAnswered, _book.FailedRounds, _reconnectCap);
        }
    }

    /// <summary>The pause after a registered stream that lasted <paramref name="lasted"/> ended; counts unstable streams in a row.</summary>
    internal TimeSpan AfterSessionEnded(TimeSpan lasted)
    {
        lock (_lock)
        {
            _unstableSessions = lasted >= ReconnectPolicy.StableSession ? 0 : _unstableSessions + 1;
            return _reconnect.AfterSessionEnded(_unstableSessions - 1, _reconnectCap);
        }
    }

    /// <summary>Whether a stream-failure warning may be logged now; reports the ones held back before it.</summary>
    private bool MayWarn()
    {
        if (!(Warnings ?? _ownWarnings).TryLog(out var suppressed))
        {
            return false;
        }

        if (suppressed > 0)
        {
            LogWarningsSuppressed(suppressed);
        }

        return true;
    }

    private bool TakeQuietRetry()
    {
        lock (_lock)
        {
            var quiet = _quietRetry;
            _quietRetry = false;
            return quiet;
        }
    }

    /// <summary>One stream. Throws when it fails before registration (so the backoff grows); returns when a registered stream ends.</summary>
    private async ValueTask SessionAsync(CancellationToken ct)
    {
        // Taken before the stream opens, given back once the master has answered: waiting behind the
        // other nodes of this process is not counted against the handshake's timeout.
        using var place = Registrations is { } gate ? await gate.EnterAsync(ct) : null;
        Uri address;
        lock (_lock)
        {
            address = _book.Next();
        }

        // A handler of our own is disposed with the channel (DisposeHttpClient): left to the GC, each
        // ended session kept its connection open, pinging, for the pool's idle minute.
        var shared = SharedHandler();
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = shared ?? NewHandler(Tls, CurrentKeepAlive()),
            DisposeHttpClient = shared is null,
            MaxReceiveMessageSize = _options.MaxMasterMessageBytes,
        });
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var call = new WorkerGateway.WorkerGatewayClient(channel).Connect(
            headers: _options.Token.Length > 0 ? new Metadata { { "authorization", "Bearer " + _options.Token } } : null,
            cancellationToken: session.Token);
        var outbox = Channel.CreateUnbounded<WorkerMessage>(new UnboundedChannelOptions { SingleReader = true });

        // Subscribed before the registration's snapshot, so no change falls between the two.
        void OnChanged(AgentStatus status) => outbox.Writer.TryWrite(new WorkerMessage
        {
            AgentEvent = new AgentEvent { Agent = status, At = Timestamp.FromDateTimeOffset(_time.GetUtcNow()) },
        });

        _agents.Changed += OnChanged;
        var registered = false;
        var registeredAt = 0L;
        try
        {
            var sentAt = _time.GetTimestamp();
            var written = false;
            try
            {
                await call.RequestStream.WriteAsync(new WorkerMessage { Register = BuildRegistration() }, ct);
                written = true;
                var accepted = await Handshake.ReadAcceptedAsync(call.ResponseStream, _epochs, CurrentHandshakeTimeout(), ct);
                ApplyTimings(accepted);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                place?.Dispose();
                NoteFailure(address, ex, await StandbyAnswer.FromAsync(ex, call, written ? TimeSpan.Zero : StatusWait, _time, ct));
                throw;
            }

            place?.Dispose();
            MarkContact(sentAt);
            registered = true;
            registeredAt = _time.GetTimestamp();
            lock (_lock)
            {
                _book.OnRegistered(address);
                _outbox = outbox;
                while (_undelivered.TryDequeue(out var message))
                {
                    outbox.Writer.TryWrite(message);
                }
            }

            // Before any command of this master is handled: a keeper whose lease lapsed while this
            // worker looked for the leader would otherwise kill the first agents it starts.
            _fencing.RenewKeeperLease();

            LogRegistered(_identity.NodeId, address.OriginalString, _probe.Devices.Count, (long)_heartbeatInterval.TotalMilliseconds, _epochs.Highest);
            var writer = WriteLoopAsync(call.RequestStream, outbox.Reader, session.Token);
            var metrics = _metrics;
            var heartbeats = new HeartbeatSender(_probe, _agents, _identity.DataDir, CurrentHeartbeatInterval(), _time,
                metrics is null ? null : heartbeat => metrics.HeartbeatSent(_identity.NodeId, heartbeat));
            var beating = heartbeats.RunAsync(outbox.Writer, session.Token);
            var starts = new InFlightStarts();
            try
            {
                await foreach (var command in call.ResponseStream.ReadAllAsync(session.Token))
                {
                    var handling = _commands.HandleAsync(command, outbox.Writer, heartbeats, session.Token);
                    if (handling.IsCompleted)
                    {
                        await handling;
                        continue;
                    }

                    // A start waiting for the launcher that all nodes of this process share: the
                    // commands after it (a heartbeat's acknowledgement above all) must not wait behind
                    // it. The agent is registered before HandleAsync returns, so a later stop or a
                    // repeated start of the same attempt finds it.
                    starts.Track(handling, error => LogStartFailed(_identity.NodeId, error));
                }

                LogStreamEnded(address.OriginalString, "the master closed it");
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is RpcException or IOException or InvalidOperationException)
            {
                if (MayWarn())
                {
                    LogStreamEnded(address.OriginalString, ex.Message);
                }

                // A leader whose term ended may name its successor: reconnect there, not here.
                if (StandbyAnswer.From(ex, call)?.Leader is { } leader && FollowHint(address, leader))
                {
                    LogFollowingLeader(address.OriginalString, leader.OriginalString);
                }
                else if (!session.IsCancellationRequested)
                {
                    // Broken, not closed (a killed or frozen master): start with the next master. A
                    // frozen one still accepts connections and would hold the next handshake for its
                    // whole timeout; a live leader is found again through the standbys' hints.
                    lock (_lock)
                    {
                        _book.OnFailed(address, IsConnectionRefused(ex));
                    }
                }
            }
            finally
            {
                outbox.Writer.TryComplete();
                await session.CancelAsync();
                await Task.WhenAll(writer, beating, starts.WhenAllAsync()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        finally
        {
            _agents.Changed -= OnChanged;
            lock (_lock)
            {
                if (_outbox == outbox)
                {
                    _outbox = null;
                }
            }
        }

        if (registered && !_leaving)
        {
            // Reconnect soon but not in a tight loop if the master keeps accepting then closing.
            await Task.Delay(AfterSessionEnded(_time.GetElapsedTime(registeredAt)), _time, ct);
        }
    }

    /// <summary>The HTTP/2 handler of a stream to the master: TLS with this node's certificate, keepalive as given.</summary>
    internal static SocketsHttpHandler NewHandler(Scheduler.Hosting.ClusterTls? tls, (TimeSpan Delay, TimeSpan Timeout) keepAlive) => new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(3),

        // A master that stops answering pings is as gone as one whose socket closed.
        KeepAlivePingDelay = keepAlive.Delay,
        KeepAlivePingTimeout = keepAlive.Timeout,
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
        SslOptions = tls?.ClientOptions() ?? new System.Net.Security.SslClientAuthenticationOptions(),
    };

    private static async Task WriteLoopAsync(IClientStreamWriter<WorkerMessage> stream, ChannelReader<WorkerMessage> outbox, CancellationToken ct)
    {
        await foreach (var message in outbox.ReadAllAsync(ct))
        {
            await stream.WriteAsync(message, ct);
        }

        // The outbox completes only on a graceful leave: tell the master this side is done.
        await stream.CompleteAsync();
    }

    /// <summary>
    /// Chooses where the next session goes, and whether the fencing clock may hold still. A connection
    /// refused at every known master address, each since the last contact, proves no master is
    /// running: nobody can declare this node dead meanwhile (a master that starts waits dead-after for
    /// its known nodes), so the clock holds still. A timeout proves nothing (a partition looks the
    /// same), and a standby's answer proves a master is running: both let the clock run.
    /// </summary>
    private void NoteFailure(Uri address, Exception ex, StandbyAnswer? standby)
    {
        var refused = standby is null && IsConnectionRefused(ex);
        Uri? followed = null;
        lock (_lock)
        {
            // A standby that knows no leader yet (an election is running), or names itself, is asked
            // again later, as after any failure, but without a warning each time.
            _quietRetry = standby is not null;
            if (standby?.Leader is { } leader)
            {
                followed = _book.OnHint(address, leader) ? leader : null;
            }
            else if (_book.OnFailed(address, refused, answered: standby is not null))
            {
                _fencing.HoldStill();
            }
        }

        if (followed is not null)
        {
            LogFollowingLeader(address.OriginalString, followed.OriginalString);
        }
        else if (standby is not null)
        {
            LogStandbyWithoutLeader(address.OriginalString);
        }
    }

    internal static bool IsConnectionRefused(Exception ex)
    {
        // RpcException carries the transport's exception (its status's debug exception) as its inner one.
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Sends on the current stream; while there is none, the message waits for the next registration
    /// (a migration's report must reach the master even if the stream broke during the migration).
    /// </summary>
    private void Send(WorkerMessage message)
    {
        lock (_lock)
        {
            if (_outbox?.Writer.TryWrite(message) != true)
            {
                _undelivered.Enqueue(message);
            }
        }
    }

    private Channel<WorkerMessage>? CurrentOutbox()
    {
        lock (_lock)
        {
            return _outbox;
        }
    }

    private async Task WaitAsync(Func<bool> condition, TimeSpan limit)
    {
        var started = _time.GetTimestamp();
        while (!condition() && _time.GetElapsedTime(started) < limit)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time);
        }
    }

    private RegisterWorker BuildRegistration()
    {
        var registration = new RegisterWorker
        {
            NodeId = _identity.NodeId,
            Hostname = Environment.MachineName,
            Capacity = new Resources { CpuMillis = _identity.CpuMillis, MemoryMib = _identity.MemoryMib },
            WorkerVersion = typeof(MasterLink).Assembly.GetName().Version?.ToString() ?? "0",
            LastEpoch = _epochs.Highest,
            TransferAddress = _identity.TransferAddress,
        };
        registration.Gpus.AddRange(_probe.Devices);
        foreach (var (key, value) in _identity.Labels)
        {
            registration.Labels[key] = value;
        }

        registration.Agents.AddRange(_agents.Snapshot());

        // Last, so a transfer address set above is reflected.
        registration.Capabilities.AddRange(WorkerCapabilities.Of(_cgroups, _keeper, registration.TransferAddress.Length > 0, appLevelCheckpoints: _migration is not null));
        return registration;
    }

    private TimeSpan CurrentHandshakeTimeout()
    {
        var timingsKnown = _fencing.FenceAfter is not null;
        lock (_lock)
        {
            return Handshake.Timeout(timingsKnown, _reconnectCap);
        }
    }

    /// <summary>The keepalive the next stream uses: scaled to the master's dead-after once registration told it.</summary>
    internal (TimeSpan Delay, TimeSpan Timeout) CurrentKeepAlive()
    {
        lock (_lock)
        {
            return LinkKeepAlive.For(_deadAfter);
        }
    }

    private TimeSpan CurrentHeartbeatInterval()
    {
        lock (_lock)
        {
            return _heartbeatInterval;
        }
    }

    private void ApplyTimings(Registered registered)
    {
        lock (_lock)
        {
            _heartbeatInterval = TimeSpan.FromMilliseconds(Math.Max(10, registered.HeartbeatIntervalMs));
            _deadAfter = TimeSpan.FromMilliseconds(Math.Max(registered.HeartbeatIntervalMs, registered.DeadAfterMs));

            // One interval before the master's deadline, so our agents are gone before it requeues them.
            _fencing.FenceAfter = TimeSpan.FromMilliseconds(Math.Max(registered.HeartbeatIntervalMs, registered.DeadAfterMs - registered.HeartbeatIntervalMs));
            _reconnectCap = TimeSpan.FromMilliseconds(Math.Clamp(registered.DeadAfterMs / 4, 200, _options.MaxReconnectDelayMs));
        }
    }

    /// <summary>The master heard from us no earlier than <paramref name="sentAt"/>: the fencing clock restarts there.</summary>
    private void MarkContact(long sentAt)
    {
        _fencing.MarkContact(sentAt);
        lock (_lock)
        {
            _book.OnContact();
        }
    }

    [LoggerMessage(20, LogLevel.Information, "Node {NodeId} registered with {Master}: {Gpus} GPUs, heartbeat every {IntervalMs} ms, epoch {Epoch}")]
    private partial void LogRegistered(string nodeId, string master, int gpus, long intervalMs, long epoch);

    [LoggerMessage(21, LogLevel.Warning, "Connecting to the master failed (attempt {Attempt}), retrying in {DelayMs} ms: {Reason}")]
    private partial void LogRetry(int attempt, long delayMs, string reason);

    [LoggerMessage(22, LogLevel.Warning, "Stream to {Master} ended: {Reason}")]
    private partial void LogStreamEnded(string master, string reason);

    [LoggerMessage(29, LogLevel.Warning, "{Count} more warnings of failing streams were held back (rate limited: many nodes of this process failed at once)")]
    private partial void LogWarningsSuppressed(long count);

    [LoggerMessage(25, LogLevel.Information, "Node {NodeId} leaving: stopping {Agents} agents and handing their jobs back")]
    private partial void LogLeaving(string nodeId, int agents);

    [LoggerMessage(26, LogLevel.Information, "Following leader hint from {Standby} to {Leader}")]
    private partial void LogFollowingLeader(string standby, string leader);

    [LoggerMessage(75, LogLevel.Error, "Node {NodeId}: starting an agent failed unexpectedly")]
    private partial void LogStartFailed(string nodeId, Exception error);

    [LoggerMessage(27, LogLevel.Debug, "Master {Standby} is not the leader and names no other; trying the next master")]
    private partial void LogStandbyWithoutLeader(string standby);
}
