using Grpc.Core;
using Microsoft.Extensions.Options;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Services;
using Scheduler.Master.Store;

namespace Scheduler.Master.Leadership;

/// <summary>
/// Whether this master leads, and the term it leads in. A standby campaigns; once it wins, a term
/// is built (epoch begun in the store under the new leader key, state loaded, the scheduling loop
/// started) and served until it ends — the lease lapsed, the store refused a fenced write, or the
/// master stops — after which the term is torn down (loop stopped, in-memory state dropped, worker
/// streams closed) and the master campaigns again. It never crashes the process over a lost term.
/// </summary>
internal sealed partial class MasterRole : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);
    private readonly ILeaderElection _election;
    private readonly IStateStore _store;
    private readonly MasterAddress _address;
    private readonly MasterOptions _options;
    private readonly TimeProvider _time;
    private readonly IServiceProvider _services;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<MasterRole> _logger;
    private readonly MasterMetrics _metrics;
    private Running? _current;

    // Set while this master has won an election and is loading its term: calls wait for it.
    private volatile TaskCompletionSource<SchedulerLoop?>? _takingOver;

    public MasterRole(
        ILeaderElection election,
        IStateStore store,
        MasterAddress address,
        IOptions<MasterOptions> options,
        TimeProvider time,
        IServiceProvider services,
        IHostApplicationLifetime lifetime,
        MasterMetrics metrics,
        ILogger<MasterRole> logger)
    {
        _election = election;
        _store = store;
        _address = address;
        _options = options.Value;
        _time = time;
        _services = services;
        _lifetime = lifetime;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The loop of the current term; null on a standby or between terms.</summary>
    public SchedulerLoop? Loop => Volatile.Read(ref _current)?.Loop;

    /// <summary>The current term; null on a standby.</summary>
    public LeaderTerm? Term => Volatile.Read(ref _current)?.Term;

    /// <summary>Serving: this master leads, its lease is held and its loop takes events (gRPC health SERVING).</summary>
    public bool IsServing => Volatile.Read(ref _current) is { } running && running.Term.IsValid && running.Loop.Ready.IsCompletedSuccessfully;

    public string StoreKind => _store.Kind;

    /// <summary>Who leads as far as this master knows: itself, or what the election last saw.</summary>
    public LeaderRecord? Leader => Volatile.Read(ref _current) is { } running
        ? new LeaderRecord(_options.MasterId, _address.Url ?? "", running.Loop.View.Epoch, running.Term.Since)
        : _election.Leader;

    /// <summary>The loop to hand a call to; a standby refuses with FAILED_PRECONDITION naming the leader.</summary>
    public SchedulerLoop RequireLeader() =>
        Volatile.Read(ref _current) is { } running && running.Loop.Ready.IsCompletedSuccessfully
            ? Valid(running)
            : throw NotLeader();

    /// <summary>
    /// The running term's loop, if its lease is provably held. A leader that can no longer renew its lease
    /// (the store unreachable) answers UNAVAILABLE at once, as its health does, instead of taking a call whose
    /// writes would wait on the store past the caller's deadline; the term ends when the lease lapses.
    /// </summary>
    private SchedulerLoop Valid(Running running) =>
        running.Term.IsValid
            ? running.Loop
            : throw NotLeader(StatusCode.Unavailable, "this master's leader lease is not held at the moment (is the store reachable?)");

    /// <summary>
    /// The loop to hand a call to. A master that has just won and is loading its term makes the
    /// call wait for it (bounded) rather than bounce it; a standby refuses with FAILED_PRECONDITION.
    /// </summary>
    public async ValueTask<SchedulerLoop> RequireLeaderAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _current) is { } running && running.Loop.Ready.IsCompletedSuccessfully)
        {
            return Valid(running);
        }

        if (_takingOver is { } takingOver)
        {
            try
            {
                if (await takingOver.Task.WaitAsync(TakeoverWait, cancellationToken) is { } loop)
                {
                    return loop;
                }
            }
            catch (TimeoutException)
            {
            }
        }

        throw NotLeader();
    }

    private static readonly TimeSpan TakeoverWait = TimeSpan.FromSeconds(5);

    /// <summary>The refusal a standby (or a master between terms) gives: the leader's address rides in the trailer.</summary>
    public RpcException NotLeader(StatusCode code = StatusCode.FailedPrecondition, string? why = null)
    {
        var leader = _election.Leader;
        var known = leader is not null && leader.Address.Length > 0 && leader.MasterId != _options.MasterId;
        // "none" rather than an empty value, which not every HTTP/2 stack passes on as a trailer.
        var trailers = new Metadata { { LeaderTrailer, known ? leader!.Address : NoLeader } };
        var message = known
            ? $"master {_options.MasterId} is a standby; the leader is {leader!.MasterId} at {leader.Address}"
            : $"master {_options.MasterId} is a standby and no leader is known yet (an election is under way); try again shortly";
        return new RpcException(new Status(code, why is null ? message : $"{why} ({message})"), trailers);
    }

    /// <summary>Trailer naming the leader's URL on a standby's refusal; documented in jobs.proto.</summary>
    public const string LeaderTrailer = "x-scheduler-leader";

    /// <summary>The trailer's value while no leader is known (an election is under way).</summary>
    public const string NoLeader = "none";

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_election is SingleMasterElection)
        {
            // The embedded default leads at once and loads before the server takes calls, so no
            // request sees an empty cluster and a store that cannot be loaded stops the start-up.
            await BeginTermAsync(cancellationToken);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (Interlocked.Exchange(ref _current, null) is { } running)
        {
            await EndTermAsync(running, "the master is stopping", resign: true);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Stop leading the moment a stop begins, before the server drains its calls.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _lifetime.ApplicationStopping);
        var ct = stopping.Token;
        try
        {
            if (_store is EtcdStateStore etcd)
            {
                // A hot standby: the store's mirror follows every change, so taking over loads from
                // memory instead of reading the whole prefix again.
                etcd.StartFollowing(_services.GetRequiredService<ILogger<EtcdStateStore>>());
            }

            await WaitForAddressAsync(ct);
            while (!ct.IsCancellationRequested)
            {
                var running = Volatile.Read(ref _current);
                if (running is null)
                {
                    try
                    {
                        running = await BeginTermAsync(ct);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        // Whatever kept this term from starting (etcd, a fenced write, a record that
                        // cannot be read), the master stays up as a standby and tries again.
                        LogTermFailedToStart(ex.Message);
                        await Task.Delay(RetryDelay, _time, ct);
                        continue;
                    }
                }

                // Serve until the term ends (or its loop stops on its own, which ends it too).
                Task ended = Task.WhenAny(running.Loop.ExecuteTask ?? Task.CompletedTask, Task.Delay(Timeout.Infinite, running.Term.Ended));
                await ended.WaitAsync(ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (ct.IsCancellationRequested || _lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    // The loop stops on its own the moment a stop begins (no dispatch while a
                    // successor may start); the term is ended, and resigned, by StopAsync.
                    break;
                }

                var reason = running.Term.EndReason ?? running.Loop.ExecuteTask?.Exception?.GetBaseException().Message ?? "its scheduling loop stopped";
                if (Interlocked.CompareExchange(ref _current, null, running) == running)
                {
                    await EndTermAsync(running, reason, resign: false);
                }

                await Task.Delay(RetryDelay, _time, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task WaitForAddressAsync(CancellationToken ct)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(ct);
    }

    private async Task<Running> BeginTermAsync(CancellationToken ct)
    {
        var lease = await _election.CampaignAsync(ct);
        LeaderTerm? term = null;
        SchedulerLoop? loop = null;
        var takingOver = new TaskCompletionSource<SchedulerLoop?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _takingOver = takingOver;
        try
        {
            if (_store is EtcdStateStore etcd)
            {
                // From here on every write commits only while the leader key is ours.
                etcd.Fence = lease.Fence;
            }

            var epoch = await _store.BeginTermAsync(ct);
            term = new LeaderTerm(epoch, _time.GetUtcNow(), lease);
            await lease.PublishAsync(new LeaderRecord(_options.MasterId, _address.Url ?? "", epoch, term.Since), ct);
            loop = ActivatorUtilities.CreateInstance<SchedulerLoop>(_services, term);
            await loop.StartAsync(term.Ended);
            var running = new Running(term, lease, loop);
            Volatile.Write(ref _current, running);
            takingOver.TrySetResult(loop);
            _takingOver = null;
            _metrics.BecameLeader();
            LogLeading(_options.MasterId, epoch, _store.Kind);
            return running;
        }
        catch
        {
            takingOver.TrySetResult(null);
            _takingOver = null;
            term?.End("the term failed to start");
            if (loop is not null)
            {
                await loop.StopAsync(CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                loop.Dispose();
            }

            term?.Dispose();
            await ReleaseAsync(lease, resign: true);
            throw;
        }
    }

    private async Task EndTermAsync(Running running, string reason, bool resign)
    {
        running.Term.End(reason);
        LogTermEnded(_options.MasterId, running.Term.Epoch, reason);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await running.Loop.StopAsync(deadline.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        running.Loop.Dispose();
        await ReleaseAsync(running.Lease, resign);
        running.Term.Dispose();
    }

    private async Task ReleaseAsync(ILeaderLease lease, bool resign)
    {
        if (resign)
        {
            try
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await lease.ResignAsync(deadline.Token);
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException)
            {
                // The lease lapses on its own.
            }
        }

        if (_store is EtcdStateStore etcd)
        {
            etcd.Fence = null;
        }

        await lease.DisposeAsync();
    }

    [LoggerMessage(1, LogLevel.Information, "Master {MasterId} leads: epoch {Epoch}, store {Store}")]
    private partial void LogLeading(string masterId, long epoch, string store);

    [LoggerMessage(2, LogLevel.Warning, "Master {MasterId} no longer leads (epoch {Epoch}): {Reason}; back to standby")]
    private partial void LogTermEnded(string masterId, long epoch, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Could not take over: {Reason}; campaigning again")]
    private partial void LogTermFailedToStart(string reason);

    private sealed record Running(LeaderTerm Term, ILeaderLease Lease, SchedulerLoop Loop);
}
