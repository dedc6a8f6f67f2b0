using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Polly;
using Polly.Retry;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;

namespace Scheduler.Worker.Link;

/// <summary>
/// This worker's one stream to the master: register, heartbeat, forward agent events, obey
/// commands. Reconnects with exponential backoff and jitter; a registered session that ends
/// starts the backoff over. Cut off for longer than the master waits before declaring it dead,
/// it kills its own agents, so a job the master has requeued never runs twice.
/// </summary>
internal sealed partial class MasterLink
{
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(100);
    private readonly WorkerIdentity _identity;
    private readonly IGpuProbe _probe;
    private readonly AgentSupervisor _agents;
    private readonly EpochStore _epochs;
    private readonly WorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string[] _addresses;
    private readonly Lock _lock = new();
    private int _nextAddress;
    private TimeSpan _heartbeatInterval = TimeSpan.FromSeconds(1);
    private TimeSpan? _fenceAfter;
    private DateTimeOffset _lastContact;
    private Channel<WorkerMessage>? _outbox;

    public MasterLink(
        WorkerIdentity identity,
        IGpuProbe probe,
        AgentSupervisor agents,
        WorkerOptions options,
        TimeProvider time,
        ILogger logger)
    {
        _identity = identity;
        _probe = probe;
        _agents = agents;
        _epochs = new EpochStore(identity.DataDir);
        _options = options;
        _time = time;
        _logger = logger;
        _addresses = options.Master.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        _lastContact = time.GetUtcNow();
    }

    /// <summary>
    /// Runs until <paramref name="stopping"/>; then stops the agents (reported to the master as
    /// not the job's doing, so they are requeued at once) and closes the stream.
    /// </summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var hard = new CancellationTokenSource();
        var connection = ConnectLoopAsync(hard.Token);
        var watchdog = WatchdogAsync(hard.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, stopping);
        }
        catch (OperationCanceledException)
        {
        }

        await _agents.StopAllAsync(TimeSpan.FromSeconds(2), "worker shutting down", CancellationToken.None);
        await FlushAsync(TimeSpan.FromSeconds(1));
        await hard.CancelAsync();
        await Task.WhenAll(connection, watchdog).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ConnectLoopAsync(CancellationToken ct)
    {
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => !ct.IsCancellationRequested),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromMilliseconds(_options.MaxReconnectDelayMs),
                MaxRetryAttempts = int.MaxValue,
                OnRetry = args =>
                {
                    LogRetry(args.AttemptNumber + 1, (long)args.RetryDelay.TotalMilliseconds, args.Outcome.Exception?.Message ?? "stream ended");
                    return default;
                },
            })
            .Build();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await pipeline.ExecuteAsync(SessionAsync, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One stream. Throws when it fails before registration (so the backoff grows); returns when a registered stream ends.</summary>
    private async ValueTask SessionAsync(CancellationToken ct)
    {
        var address = _addresses[_nextAddress++ % _addresses.Length];
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(3),

                // A master that stops answering pings is as gone as one whose socket closed.
                KeepAlivePingDelay = TimeSpan.FromSeconds(1),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(1),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            },
        });
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var call = new WorkerGateway.WorkerGatewayClient(channel).Connect(cancellationToken: session.Token);
        var outbox = Channel.CreateUnbounded<WorkerMessage>(new UnboundedChannelOptions { SingleReader = true });

        // Subscribed before the registration's snapshot, so no change falls between the two.
        void OnChanged(AgentStatus status) => outbox.Writer.TryWrite(new WorkerMessage
        {
            AgentEvent = new AgentEvent { Agent = status, At = Timestamp.FromDateTimeOffset(_time.GetUtcNow()) },
        });

        _agents.Changed += OnChanged;
        var registered = false;
        try
        {
            await call.RequestStream.WriteAsync(new WorkerMessage { Register = BuildRegistration() }, ct);
            var accepted = await HandshakeAsync(call.ResponseStream, ct);
            ApplyTimings(accepted);
            MarkContact();
            registered = true;
            lock (_lock)
            {
                _outbox = outbox;
            }

            LogRegistered(_identity.NodeId, address, _probe.Devices.Count, (long)_heartbeatInterval.TotalMilliseconds, _epochs.Highest);
            var writer = WriteLoopAsync(call.RequestStream, outbox.Reader, session.Token);
            var heartbeats = HeartbeatLoopAsync(outbox.Writer, session.Token);
            try
            {
                await foreach (var command in call.ResponseStream.ReadAllAsync(session.Token))
                {
                    MarkContact();
                    await HandleAsync(command, outbox.Writer, session.Token);
                }

                LogStreamEnded(address, "the master closed it");
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is RpcException or IOException or InvalidOperationException)
            {
                LogStreamEnded(address, ex.Message);
            }
            finally
            {
                outbox.Writer.TryComplete();
                await session.CancelAsync();
                await Task.WhenAll(writer, heartbeats).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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

        if (registered)
        {
            // Reconnect soon but not in a tight loop if the master keeps accepting then closing.
            await Task.Delay(TimeSpan.FromMilliseconds(100 + Random.Shared.Next(100)), _time, ct);
        }
    }

    private async Task<Registered> HandshakeAsync(IAsyncStreamReader<MasterCommand> responses, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(HandshakeTimeout);
        if (!await responses.MoveNext(timeout.Token))
        {
            throw new IOException("the master closed the stream before accepting the registration");
        }

        var first = responses.Current;
        if (first.BodyCase != MasterCommand.BodyOneofCase.Registered)
        {
            throw new InvalidOperationException($"the master answered the registration with {first.BodyCase}");
        }

        if (!_epochs.Accept(first.Epoch))
        {
            // A deposed master: look for the current one.
            throw new InvalidOperationException($"master epoch {first.Epoch} is older than {_epochs.Highest}, already obeyed");
        }

        return first.Registered;
    }

    private async Task WriteLoopAsync(IClientStreamWriter<WorkerMessage> stream, ChannelReader<WorkerMessage> outbox, CancellationToken ct)
    {
        await foreach (var message in outbox.ReadAllAsync(ct))
        {
            await stream.WriteAsync(message, ct);
            MarkContact();
        }
    }

    private async Task HeartbeatLoopAsync(ChannelWriter<WorkerMessage> outbox, CancellationToken ct)
    {
        ulong sequence = 0;
        using var timer = new PeriodicTimer(_heartbeatInterval, _time);
        do
        {
            var heartbeat = new Heartbeat
            {
                Sequence = ++sequence,
                SentAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow()),
            };
            heartbeat.Gpus.AddRange(_probe.Sample(_agents.BusyGpus()));
            heartbeat.Agents.AddRange(_agents.Snapshot());
            heartbeat.CachedKeys.AddRange(CachedKeys());
            if (!outbox.TryWrite(new WorkerMessage { Heartbeat = heartbeat }))
            {
                return;
            }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    private async Task HandleAsync(MasterCommand command, ChannelWriter<WorkerMessage> outbox, CancellationToken ct)
    {
        if (!_epochs.Accept(command.Epoch))
        {
            LogStaleCommand(command.BodyCase.ToString(), command.Epoch, _epochs.Highest);
            return;
        }

        switch (command.BodyCase)
        {
            case MasterCommand.BodyOneofCase.Registered:
                ApplyTimings(command.Registered);
                break;
            case MasterCommand.BodyOneofCase.Start:
                await _agents.StartAsync(command.Start, ct);
                break;
            case MasterCommand.BodyOneofCase.Stop:
                var stop = command.Stop;
                _agents.Stop(new AgentKey(stop.JobId, stop.Attempt), TimeSpan.FromMilliseconds(Math.Max(0, stop.GraceMs)), stop.Reason);
                break;
            case MasterCommand.BodyOneofCase.Drain:
                LogDrain(_identity.NodeId, command.Drain.Reason);
                break;
            case MasterCommand.BodyOneofCase.FetchLogs:
                outbox.TryWrite(new WorkerMessage { Logs = _agents.ReadLogs(command.FetchLogs) });
                break;
            case MasterCommand.BodyOneofCase.AckExit:
                _agents.Ack(new AgentKey(command.AckExit.JobId, command.AckExit.Attempt));
                break;
        }
    }

    private async Task WatchdogAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(WatchdogPeriod, _time);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            TimeSpan silent;
            TimeSpan? fenceAfter;
            lock (_lock)
            {
                silent = _time.GetUtcNow() - _lastContact;
                fenceAfter = _fenceAfter;
            }

            if (fenceAfter is { } limit && silent > limit && _agents.LiveCount > 0)
            {
                _agents.Fence($"no contact with the master for {silent.TotalSeconds:F1}s; it will have requeued this node's jobs");
            }
        }
    }

    private async Task FlushAsync(TimeSpan limit)
    {
        var deadline = _time.GetUtcNow() + limit;
        while (_time.GetUtcNow() < deadline)
        {
            Channel<WorkerMessage>? outbox;
            lock (_lock)
            {
                outbox = _outbox;
            }

            if (outbox is null || outbox.Reader.Count == 0)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), _time);
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
        };
        registration.Gpus.AddRange(_probe.Devices);
        foreach (var (key, value) in _identity.Labels)
        {
            registration.Labels[key] = value;
        }

        registration.Agents.AddRange(_agents.Snapshot());
        return registration;
    }

    private void ApplyTimings(Registered registered)
    {
        lock (_lock)
        {
            _heartbeatInterval = TimeSpan.FromMilliseconds(Math.Max(10, registered.HeartbeatIntervalMs));

            // One interval before the master's deadline, so our agents are gone before it requeues them.
            _fenceAfter = TimeSpan.FromMilliseconds(Math.Max(registered.HeartbeatIntervalMs, registered.DeadAfterMs - registered.HeartbeatIntervalMs));
        }
    }

    private void MarkContact()
    {
        lock (_lock)
        {
            _lastContact = _time.GetUtcNow();
        }
    }

    private IEnumerable<string> CachedKeys()
    {
        var cache = Path.Combine(_identity.DataDir, "cache");
        return Directory.Exists(cache)
            ? Directory.EnumerateFileSystemEntries(cache).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];
    }

    [LoggerMessage(20, LogLevel.Information, "Node {NodeId} registered with {Master}: {Gpus} GPUs, heartbeat every {IntervalMs} ms, epoch {Epoch}")]
    private partial void LogRegistered(string nodeId, string master, int gpus, long intervalMs, long epoch);

    [LoggerMessage(21, LogLevel.Warning, "Connecting to the master failed (attempt {Attempt}), retrying in {DelayMs} ms: {Reason}")]
    private partial void LogRetry(int attempt, long delayMs, string reason);

    [LoggerMessage(22, LogLevel.Warning, "Stream to {Master} ended: {Reason}")]
    private partial void LogStreamEnded(string master, string reason);

    [LoggerMessage(23, LogLevel.Warning, "Ignored {Command} from epoch {Epoch}: epoch {Highest} already obeyed")]
    private partial void LogStaleCommand(string command, long epoch, long highest);

    [LoggerMessage(24, LogLevel.Information, "Node {NodeId} is draining: {Reason}")]
    private partial void LogDrain(string nodeId, string reason);
}
