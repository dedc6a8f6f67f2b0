using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using NodeHealth = Scheduler.Core.Cluster.NodeHealth;
using Scheduler.Core.Affinity;
using Scheduler.Core.Fairness;
using Scheduler.Core.Placement;
using Scheduler.Core.Preemption;
using Scheduler.Core.Queueing;
using Scheduler.Master.Leadership;
using Scheduler.Master.Store;
using Scheduler.Master.Telemetry;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The one writer. Owns the cluster view and every job record; gRPC handlers and worker streams
/// post events to its inbox and read the <see cref="MasterView"/> it publishes. Each change is
/// persisted before it is acted on, so a crash at any point leaves the store at or ahead of what
/// any worker was told. One loop serves one leader term (<see cref="LeaderTerm"/>): it loads the
/// state when the term begins and stops, dropping everything in memory, when the term ends.
/// </summary>
internal sealed partial class SchedulerLoop : BackgroundService
{
    private readonly EventInbox _inbox;
    private readonly IStateStore _store;
    private readonly MasterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SchedulerLoop> _logger;
    private readonly MasterMetrics _metrics;
    private readonly SchedulingCycle _cycle;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenRegistration _onStopping;
    private readonly CancellationTokenRegistration _onStarted;
    private bool _serving;
    private readonly LeaderTerm _term;
    private readonly HashSet<string> _awaitingNodes = new(StringComparer.Ordinal);
    private DateTimeOffset _takeoverUntil;

    private readonly Dictionary<string, JobRecord> _jobs = new(StringComparer.Ordinal);
    private readonly JobsByNode _jobsByNode = new();
    private readonly Dictionary<string, string> _jobByRequestId = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, NodeEntry> _nodes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly QueueEntries _queueEntries = new();
    private readonly NodeStates _nodeStates;
    private readonly RunningJobs _running;
    private readonly CheckpointWatch _checkpointWatch = new();
    private readonly List<JobWatcher> _watchers = [];
    private readonly JobFeed _feed = new();
    private readonly LogRequests _logRequests = new();
    private readonly FailureDetector _detector;
    private readonly MassSilenceGuard _massSilence;
    private readonly ViewPublisher _published = new();
    private readonly WorkerCommands _commands;
    private readonly PlacementEngine _migrationPlacement;
    private readonly JobTraces _traces = new();
    private readonly JobExplainer _explainer;
    private Reservation? _lastReservation;

    private readonly JobIds _ids = new();
    private long _epoch;
    private DateTimeOffset _leaderSince;
    private bool _needsPass;
    private readonly PendingEvictions _evictions = new();
    private DateTimeOffset _lastPass;
    private long _lastLagTicks;

    public SchedulerLoop(
        IStateStore store,
        IOptions<MasterOptions> options,
        TimeProvider time,
        ILogger<SchedulerLoop> logger,
        MasterMetrics metrics,
        IHostApplicationLifetime lifetime,
        LeaderTerm term)
    {
        _term = term;
        _inbox = new EventInbox(options.Value.MaxPendingSubmits);
        _nodeStates = new NodeStates(_nodes);
        _running = new RunningJobs(_nodes, JobOfAllocation, TenantOf, Describe)
        {
            // Tests turn this on: every pass checks the table kept per change against one built from every allocation.
            Verify = Environment.GetEnvironmentVariable("SCHEDULER_CHECK_INVARIANTS") == "1",
        };
        _commands = new WorkerCommands(term, options.Value, () => _epoch, logger);
        // The moment a stop begins, before the server drains its calls: a stopping master must not
        // dispatch while a successor may already be starting on the same jobs.
        // Disposed with the loop: a later term's loop must not find this one's source disposed.
        _onStopping = lifetime.ApplicationStopping.Register(_stopping.Cancel);

        // A master loads its nodes before its server listens; on a busy host that start can take
        // longer than dead-after, and the workers could not have reached it meanwhile. Their silence
        // is counted from the moment this master is reachable (at once when a later term begins).
        _onStarted = lifetime.ApplicationStarted.Register(() => Post(ServingStarted.Instance));
        _store = store;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _detector = FailureDetector.From(_options);
        _massSilence = MassSilenceGuard.From(_options);
        _migrationPlacement = new PlacementEngine(PlacementPolicies.Create(_options.PlacementPolicy));
        if (_options.AutoscaleWebhook.Length > 0)
        {
            _scalingWebhook = new ScalingWebhook(new Uri(_options.AutoscaleWebhook), logger);
        }

        var queue = QueuePolicies.Create(_options.QueuePolicy, new QueuePolicyOptions
        {
            AgingInterval = TimeSpan.FromSeconds(_options.AgingIntervalSeconds),
            AgingStep = _options.AgingStep,
        });

        // Nodes that report a job's model/dataset keys cached win placements that otherwise tie.
        var placement = new AffinityPlacementPolicy(
            PlacementPolicies.Create(_options.PlacementPolicy),
            jobId => JobOfAllocation(jobId) is { } job ? job.Spec.AffinityKeys : [],
            nodeId => _nodes.TryGetValue(nodeId, out var node) ? node.CachedKeys : null);
        var quotas = new TenantQuotas(_options.Quotas.ToDictionary(kv => kv.Key, kv => kv.Value.ToTotals(), StringComparer.Ordinal));
        _explainer = new JobExplainer(new PlacementEngine(placement), quotas);
        _cycle = new SchedulingCycle(queue, new PlacementEngine(placement), new SchedulingCycleOptions
        {
            Backfill = _options.Backfill,
            Quotas = quotas,
            Preemption = _options.PreemptMinPriority > 0
                ? new PreemptionOptions { MinPreemptorPriority = _options.PreemptMinPriority, ProtectedFromPriority = _options.PreemptProtectedPriority }
                : null,
        });
    }

    /// <summary>Completes once the store is loaded and the loop takes events.</summary>
    public Task Ready => _ready.Task;

    public MasterView View => _published.Current;

    /// <summary>Every job and every change to one, current as of the last change (ahead of <see cref="View"/>, which follows per batch).</summary>
    public JobFeed Feed => _feed;

    public string StoreKind => _store.Kind;

    /// <summary>Events waiting for the loop, for the inbox depth metric.</summary>
    public int InboxDepth => _inbox.Depth;

    /// <summary>Cancelled when this loop's leader term ends: streams served for it close then.</summary>
    public CancellationToken TermEnded => _term.Ended;

    /// <summary>The epoch the loop's commands carry now (the worker gateway stamps its heartbeat acknowledgements with it).</summary>
    public long CommandEpoch => Volatile.Read(ref _epoch);

    /// <summary>Whether this term may still command workers: not ended, its lease proven held (as for every command the loop sends).</summary>
    public bool MayCommand => _term.IsValid;

    public TimeSpan HeartbeatInterval => TimeSpan.FromMilliseconds(_options.HeartbeatIntervalMs);

    /// <summary>Hands an event to the loop; false only while the host shuts down.</summary>
    public bool Post(IMasterEvent e) => _inbox.Post(e);

    /// <summary>Posts a request and waits for the loop's answer.</summary>
    public async Task<T> AskAsync<T>(Func<TaskCompletionSource<T>, IMasterEvent> make, CancellationToken cancellationToken)
    {
        await Ready.WaitAsync(cancellationToken);
        var reply = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        switch (_inbox.Offer(make(reply)))
        {
            case PostOutcome.Closed:
                throw NoLongerLeading();
            case PostOutcome.Full:
                _metrics.SubmitRefused();
                throw SubmitBackpressure.Refusal(_inbox.MaxSubmits, RetryHint);
        }

        return await reply.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// How long a refused submitter should wait: about as long as the loop's last batch waited to be
    /// handled (the time the backlog takes to move), within <see cref="SubmitBackpressure"/>'s bounds.
    /// </summary>
    private TimeSpan RetryHint => SubmitBackpressure.Hint(TimeSpan.FromTicks(Volatile.Read(ref _lastLagTicks)));

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Load before the host starts serving, so no request ever sees an empty cluster.
        await LoadAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken hostStopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, _stopping.Token, _term.Ended);
        var stoppingToken = linked.Token;
        using var ticker = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(50, _options.HeartbeatIntervalMs / 2)), _time);
        var tickTask = TickAsync(ticker, stoppingToken);
        _ready.TrySetResult();
        try
        {
            while (await _inbox.WaitAsync(stoppingToken))
            {
                foreach (var e in _inbox.TakeBatch())
                {
                    if (e is SubmitJob submit)
                    {
                        // Decided now, stored with the rest of the batch's submits in one write.
                        StageSubmit(submit);
                        continue;
                    }

                    if (e is SubmitJobBatch batch)
                    {
                        StageSubmitBatch(batch);
                        continue;
                    }

                    try
                    {
                        // Whatever this event reads or changes sees the submits before it current. An
                        // agent's report joins the group instead (its job's earlier change, if any, is
                        // stored first), so a burst of reports does not cost a write each.
                        if (!JoinsGroup(e))
                        {
                            await CommitSubmitsAsync(stoppingToken);
                        }

                        if (_term.Ended.IsCancellationRequested)
                        {
                            EventInbox.Fail(e, NoLongerLeading());
                            continue;
                        }

                        await HandleAsync(e, stoppingToken);
                    }
                    catch (Exception ex) when (EndsTerm(ex))
                    {
                        // Routine on etcd: another master leads now. Nothing of this event is current.
                        _term.End(ex.Message);
                        EventInbox.Fail(e, NoLongerLeading());
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        LogEventFailed(e.GetType().Name, ex);
                        EventInbox.Fail(e, ToStatus(ex));
                    }
                }

                // Accepting a registration may stage its agents' reports: stored before the pass reads them.
                while (GroupWaiting)
                {
                    await CommitSubmitsAsync(stoppingToken);
                }

                if (_needsPass)
                {
                    await RunPassAsync(stoppingToken);
                }

                _published.Publish(_nodes, _feed.Current.History.ById, _epoch, _leaderSince);
                var lag = Stopwatch.GetElapsedTime(_inbox.BatchPostedAt);
                Volatile.Write(ref _lastLagTicks, lag.Ticks);
                _metrics.LoopLag(lag);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            LogStopping(_nodes.Values.Count(n => n.Session is not null));
            _inbox.Close(NoLongerLeading());
            FailStaged(NoLongerLeading());
            _stagedAgents.Fail(NoLongerLeading());

            _logRequests.FailAll();
            foreach (var watcher in _watchers)
            {
                watcher.End();
            }

            foreach (var entry in _nodes.Values)
            {
                entry.Session?.Close();
            }

            await tickTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_scalingWebhook is not null)
            {
                await _scalingWebhook.DisposeAsync();
            }
        }
    }

    /// <summary>Registrations, heartbeats, agent events and cancels: their changes are stored with the batch's group write.</summary>
    private static bool JoinsGroup(IMasterEvent e) =>
        e is WorkerConnected or CancelJob or WorkerMessageReceived { Message.BodyCase: WorkerMessage.BodyOneofCase.Heartbeat or WorkerMessage.BodyOneofCase.AgentEvent };

    public override void Dispose()
    {
        _onStopping.Dispose();
        _onStarted.Dispose();
        _stopping.Dispose();
        base.Dispose();
    }

    private async Task TickAsync(PeriodicTimer ticker, CancellationToken cancellationToken)
    {
        try
        {
            while (await ticker.WaitForNextTickAsync(cancellationToken))
            {
                Post(Tick.Instance);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>What a call gets when this loop stopped under it: retry (a client follows to the new leader).</summary>
    private static Grpc.Core.RpcException NoLongerLeading() =>
        new(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "this master stopped leading (its term ended, or it is shutting down); retry"));

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        _epoch = _term.Epoch;
        var now = _time.GetUtcNow();
        _leaderSince = _term.Since;
        _takeoverUntil = now + TimeSpan.FromMilliseconds(_options.ReconnectWindowMs);
        var state = await _store.LoadAsync(cancellationToken);
        foreach (var record in state.Nodes)
        {
            // Until its worker registers again, a known node is suspect: its jobs still count as
            // running there, and the failure detector requeues them if it never comes back.
            var entry = new NodeEntry(record, ProtoMapping.ToState(record), now);
            entry.State.Health = NodeHealth.Suspect;
            _nodes[record.Id] = entry;
            _published.NodeChanged(record.Id);
            _awaitingNodes.Add(record.Id);
        }

        var orphans = new List<JobRecord>();
        foreach (var job in state.Jobs)
        {
            _jobsByNode.Update(_jobs.GetValueOrDefault(job.Id), job);
            _jobs[job.Id] = job;
            _checkpointWatch.Changed(job.Id, job);
            _jobByRequestId[job.RequestId] = job.Id;
            _ids.Observe(job.Sequence);
            if (job.State == JobState.Pending)
            {
                _pending.Add(job.Id);
            }

            if (job.HoldsAllocation && !TryReallocate(job))
            {
                orphans.Add(job);
            }
            else if (job.Migration is { } migration && _nodes.TryGetValue(migration.TargetNode, out var target))
            {
                // The target's reservation outlives a failover: the source may still commit there.
                try
                {
                    target.State.Allocate(new Allocation(job.Id, target.Id, ProtoMapping.ToRequest(job.Spec.Resources), migration.TargetShares));
                }
                catch (InvalidOperationException)
                {
                }
            }
        }

        _feed.Load(_epoch, _jobs.Values);
        foreach (var job in orphans)
        {
            if (JobTransitions.Lost(job, "its node's record was lost", now) is { } lost)
            {
                await ApplyAsync([lost], cancellationToken);
            }
        }

        _needsPass = _pending.Count > 0;
        _published.Publish(_nodes, _feed.Current.History.ById, _epoch, _leaderSince);
        LogLoaded(_epoch, _jobs.Count, _nodes.Count, _store.Kind);
    }

    private bool TryReallocate(JobRecord job)
    {
        if (job.IsGang)
        {
            return TryReallocateReplicas(job, onNode: null);
        }

        if (job.NodeId is null || !_nodes.TryGetValue(job.NodeId, out var entry))
        {
            return false;
        }

        var allocation = new Allocation(job.Id, job.NodeId, ProtoMapping.ToRequest(job.Spec.Resources), job.GpuShares);
        try
        {
            entry.State.Allocate(allocation);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private Task HandleAsync(IMasterEvent e, CancellationToken ct) => e switch
    {
        SubmitJob s => SubmitAsync(s, ct),
        SubmitJobBatch b => SubmitBatchAsync(b, ct),
        CancelJob c => CancelAsync(c, ct),
        MigrateJob m => MigrateAsync(m, ct),
        SuspendJob s => SuspendAsync(s, ct),
        ResumeJob r => ResumeAsync(r, ct),
        TakeSnapshot t => TakeSnapshot(t),
        RestoreSnapshot r => RestoreSnapshotAsync(r, ct),
        ChangeNode n => ChangeNodeAsync(n, ct),
        FetchJobLogs f => FetchLogs(f),
        ExplainJob x => Explain(x),
        WatchSubscribe w => Subscribe(w.Watcher),
        WatchUnsubscribe w => Unsubscribe(w.Watcher),
        WorkerConnected w => WorkerConnectedAsync(w, ct),
        WorkerMessageReceived m => WorkerMessageAsync(m, ct),
        WorkerDisconnected d => WorkerDisconnected(d),
        Tick => TickAsync(ct),
        ServingStarted => RestartSilenceClocks(),
        _ => throw new UnreachableException(e.GetType().Name),
    };

    /// <summary>A store the disk refused is UNAVAILABLE (retry later, nothing was stored); anything else is a bug.</summary>
    private static Grpc.Core.RpcException ToStatus(Exception ex) => ex switch
    {
        Grpc.Core.RpcException rpc => rpc,
        StoreUnavailableException => new(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, ex.Message)),
        // The details are in the master's log; a client gets no internals (paths, SQL, stack frames).
        _ => new(new Grpc.Core.Status(Grpc.Core.StatusCode.Internal, "the master failed to handle this request; its log has the details")),
    };

    /// <summary>Persists the records, then makes them current and tells watchers: persist before act.</summary>
    private async Task ApplyAsync(IReadOnlyCollection<JobRecord> records, CancellationToken ct, IReadOnlyCollection<NodeRecord>? nodes = null)
    {
        if (!_committingGroup && GroupWaiting)
        {
            // Stored in the order decided: the group's changes before this one.
            await CommitSubmitsAsync(ct);
        }

        if (records.Any(r => r.Migration is not null || r.Checkpointing is not null || r.Checkpoint is not null))
        {
            // Rare: only a job being migrated or checkpointed can carry an operation its attempt outlived.
            var now = _time.GetUtcNow();
            records = [.. records.Select(r => EndCheckpointIfAttemptEnded(EndMigrationIfAttemptEnded(r, _jobs.GetValueOrDefault(r.Id), now)))];
        }

        var writing = Stopwatch.GetTimestamp();
        if (nodes is { Count: > 0 })
        {
            // The group write: the batch's registrations with its jobs, one transaction.
            await _store.SaveAsync(records, nodes, ct);
        }
        else
        {
            await _store.SaveJobsAsync(records, ct);
        }

        _metrics.StoreWrite(Stopwatch.GetElapsedTime(writing));
        foreach (var record in records)
        {
            var previous = _jobs.GetValueOrDefault(record.Id);
            ReleaseMigration(previous, record);
            ForgetRestoredCheckpoint(previous, record);
            DropUnusedCheckpoints(previous, record);
            if (previous is { IsGang: true, HoldsAllocation: true })
            {
                // A gang frees each replica's capacity once the store says that replica's agent is gone.
                ReleaseReplicas(previous, record);
            }
            else if (previous is { HoldsAllocation: true, NodeId: { } nodeId } && !record.HoldsAllocation && _nodes.TryGetValue(nodeId, out var entry))
            {
                // Only now that the store says so: capacity freed in memory before a failed write
                // would be placed twice.
                entry.State.Release(record.Id);
                _published.NodeChanged(nodeId);
                _needsPass = true;
            }

            if (previous is { State: not JobState.Pending } && record.State == JobState.Pending)
            {
                _metrics.Requeued();
                LogRequeue(record.Id, record.Attempt, record.NodeId ?? "", record.Message);
            }

            Remember(record);
        }

        if (_shipments.Count > 0 && SettleUnstarted(records, _time.GetUtcNow()) is { Count: > 0 } settled)
        {
            await ApplyAsync(settled, ct);
        }
    }

    /// <summary>Makes a record current in memory (and for watchers) without persisting it.</summary>
    private void Remember(JobRecord record)
    {
        _jobsByNode.Update(_jobs.GetValueOrDefault(record.Id), record);
        _jobs[record.Id] = record;
        _checkpointWatch.Changed(record.Id, record);
        if (record.State == JobState.Pending)
        {
            _pending.Add(record.Id);
            _needsPass = true;
        }
        else
        {
            _pending.Remove(record.Id);
            _queueEntries.Forget(record.Id);
            if (record.IsTerminal)
            {
                _traces.Forget(record.Id);
            }
        }

        if (record.NodeId is not null)
        {
            _published.NodeChanged(record.NodeId);
        }

        foreach (var replica in record.Replicas)
        {
            _published.NodeChanged(replica.NodeId);
        }

        Notify(record, durable: true);
    }

    /// <summary>Numbers the change in the feed and wakes the watches that follow the job; a transient one (LOST) is not remembered.</summary>
    private void Notify(JobRecord record, bool durable = false)
    {
        _feed.Append(record, durable);
        foreach (var watcher in _watchers)
        {
            if (watcher.Matches(record.Id))
            {
                watcher.Ring();
            }
        }
    }

    private Task Subscribe(JobWatcher watcher)
    {
        // The watch reads the feed itself; one ring now covers any change it read past before it was registered.
        _watchers.Add(watcher);
        watcher.Ring();
        return Task.CompletedTask;
    }

    private Task Unsubscribe(JobWatcher watcher)
    {
        _watchers.Remove(watcher);
        watcher.End();
        return Task.CompletedTask;
    }

    private Task RestartSilenceClocks()
    {
        _serving = true;
        var now = _time.GetUtcNow();
        foreach (var id in _awaitingNodes)
        {
            if (_nodes.TryGetValue(id, out var entry) && entry.Session is null && entry.LastSeen < now)
            {
                entry.LastSeen = now;
            }
        }

        var window = now + TimeSpan.FromMilliseconds(_options.ReconnectWindowMs);
        if (_awaitingNodes.Count > 0 && window > _takeoverUntil)
        {
            _takeoverUntil = window;
        }

        return Task.CompletedTask;
    }

    private async Task TickAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();

        await JudgeSilenceAsync(now, ct);

        _logRequests.Expire(now);
        await CheckpointDueJobsAsync(now, ct);
        await ExpireCheckpointsAsync(now, ct);
        await ExpireShipmentsAsync(now, ct);

        // Aging can reorder the queue even when nothing else changed.
        if (_pending.Count > 0 && now - _lastPass >= TimeSpan.FromSeconds(1))
        {
            _needsPass = true;
        }

        await RebalanceIfDueAsync(now, ct);
        AdviseScalingIfDue(now);
        await CompactFinishedJobsIfDueAsync(now, ct);
    }

    private async Task RunPassAsync(CancellationToken ct)
    {
        _needsPass = false;
        var now = _time.GetUtcNow();
        _lastPass = now;
        if (_pending.Count == 0)
        {
            _lastReservation = null;
            return;
        }

        if (_awaitingNodes.Count > 0 && now < _takeoverUntil)
        {
            // Taking over: until the known workers are back (or the reconnect window is over) the
            // cluster is only half known, and placing now would crowd the first workers back.
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var waiting = new List<QueuedJob>(_pending.Count);
        foreach (var id in _pending)
        {
            waiting.AddRange(_queueEntries.For(_jobs[id], QueuedOf));
        }

        // What holds capacity now: backfill needs expected ends, fair share and quotas need usage. Summed
        // again only where allocations changed since the last pass.
        _running.Refresh();
        var decisions = _cycle.Run(waiting, _nodeStates, now, _running, _running.Usage);
        var decided = _time.GetUtcNow();
        _lastReservation = decisions.Select(d => d.Reservation).FirstOrDefault(r => r is not null);
        var placed = new List<JobRecord>();
        var evicted = new List<JobRecord>();
        var migrateAway = new List<JobRecord>();
        var preemptors = new List<string>();
        var gangs = new GangPlacements();
        foreach (var decision in decisions)
        {
            if (decision.Job.GangId is { } gangId)
            {
                gangs.Add(_jobs[gangId], decision);
                continue;
            }

            var job = _jobs[decision.Job.Demand.JobId];
            if (decision.Preemption is { } plan)
            {
                preemptors.Add(job.Id);
                foreach (var victim in Evict(plan, job, now))
                {
                    (victim.Migration is null && victim.RequeueOnExit ? evicted : migrateAway).Add(victim);
                }
            }

            if (decision.Allocation is { } allocation)
            {
                _evictions.Forget(job.Id);
                var node = _nodes[allocation.NodeId];
                var uuids = allocation.Gpus.Select(g => node.State.Gpus[g.Index].Uuid).ToArray();
                if (JobTransitions.Place(job, allocation.NodeId, allocation.Gpus, uuids, now) is { } assigned)
                {
                    placed.Add(assigned);

                    // A pending record's UpdatedAt is when it became pending (submitted or requeued).
                    _metrics.Placed(now - job.UpdatedAt);
                    _traces.Placed(assigned, job.UpdatedAt, now, decided);
                }
            }
            else if (decision.Reason is { } reason && reason != job.PendingReason)
            {
                // Derived, not durable: recomputed on every pass, so only memory and watchers see it.
                Remember(job with { PendingReason = reason });
            }
        }

        PlaceGangs(gangs, now, decided, placed);
        var persisting = _time.GetUtcNow();
        try
        {
            // Persisted before the stop goes out, so a failover still requeues them when they exit.
            // One write for the whole pass: its evictions, then its placements.
            await ApplyAsync([.. evicted, .. placed], ct);
            _traces.Persisted(placed, persisting, _time.GetUtcNow(), ok: true);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _traces.Persisted(placed, persisting, _time.GetUtcNow(), ok: false);
            if (EndsTerm(ex))
            {
                _term.End(ex.Message);
            }

            // Nothing of this pass is acted on. The placements were made in memory by the pass:
            // undo them; evictions not stored are not in flight.
            foreach (var job in placed)
            {
                foreach (var (nodeId, allocationId) in GangMembers.HeldAllocations(job))
                {
                    _nodes[nodeId].State.Release(allocationId);
                    _published.NodeChanged(nodeId);
                }
            }

            foreach (var preemptor in preemptors)
            {
                _evictions.Forget(preemptor);
            }

            _needsPass = true;
            LogPersistFailed(placed.Count + evicted.Count, ex);
            return;
        }

        foreach (var victim in evicted)
        {
            _commands.Stop(_nodes[victim.NodeId!], victim.Id, victim.Attempt, victim.Message);
        }

        foreach (var victim in migrateAway)
        {
            await MakeRoomByMigratingAsync(victim, now, ct);
        }

        foreach (var job in placed)
        {
            // Current while the start command is built: its context becomes the command's traceparent.
            using var dispatch = _traces.Dispatch(job);
            if (job.IsGang)
            {
                // Every replica's start goes out in this pass, after the one write that placed them all.
                StartGang(job);
                continue;
            }

            await StartPlacedAsync(job, ct);
        }

        _metrics.RecordPass(Stopwatch.GetElapsedTime(started), waiting.Count, placed.Count);
    }

    /// <summary>A pending job as the queue sees it; a gang is one queued replica per rank, which Core places all in one pass or none.</summary>
    private static QueuedJob[] QueuedOf(JobRecord job)
    {
        var queued = new QueuedJob(ProtoMapping.ToDemand(job), job.Priority, job.CreatedAt, job.Sequence, TenantOf(job))
        {
            RuntimeEstimate = EstimateOf(job),
            Checkpointable = job.Spec.Checkpointable,
        };
        if (!job.IsGang)
        {
            return [queued];
        }

        var replicas = new QueuedJob[job.Size];
        for (var rank = 0; rank < job.Size; rank++)
        {
            replicas[rank] = queued with { Demand = queued.Demand with { JobId = GangMembers.AgentId(job.Id, rank) }, GangId = job.Id, GangSize = job.Size };
        }

        return replicas;
    }

    /// <summary>
    /// The victims of a preemption plan, marked to be requeued (not failed) when their agents exit.
    /// Their capacity frees up when the worker confirms the exit; the preemptor is placed on a later pass.
    /// </summary>
    private IEnumerable<JobRecord> Evict(Core.Preemption.PreemptionPlan plan, JobRecord preemptor, DateTimeOffset now)
    {
        // Until the victims already chosen for this job have exited, their capacity still looks
        // taken: planning again would evict more than needed.
        if (_evictions.InFlight(preemptor.Id, (v, node) => _jobs.TryGetValue(v, out var j) && j.HoldsAllocation && j.NodeId == node))
        {
            yield break;
        }

        _evictions.Record(preemptor.Id, plan.NodeId, plan.Victims);
        foreach (var id in plan.Victims)
        {
            if (_jobs.TryGetValue(id, out var victim) && victim.HoldsAllocation && !victim.IsTerminal && !victim.RequeueOnExit)
            {
                LogPreempting(victim.Id, victim.Priority, preemptor.Id, preemptor.Priority, plan.NodeId);
                _metrics.Preempted();
                if (victim.Spec.Checkpointable && victim.State == JobState.Running && victim.Migration is null)
                {
                    // Moved live with its state rather than restarted, where some node can take it.
                    yield return victim;
                }
                else if (JobTransitions.Move(victim, $"preempted by {preemptor.Id} (priority {preemptor.Priority})", now) is { } moving)
                {
                    yield return moving;
                }
            }
        }
    }

    /// <summary>A job holding allocation <paramref name="allocationId"/>, as the pass reads it; a gang replica is never a preemption victim alone (evicting one stops the whole gang).</summary>
    private static RunningJob Describe(JobRecord job, string allocationId) =>
        new(allocationId, TenantOf(job), job.Priority, job.StartedAt ?? job.UpdatedAt)
        {
            RuntimeEstimate = EstimateOf(job),
            Checkpointable = job.Spec.Checkpointable,
            GangId = job.IsGang ? job.Id : null,
        };

    private static string TenantOf(JobRecord job) => job.Spec.Tenant.Length == 0 ? "default" : job.Spec.Tenant;

    private static TimeSpan? EstimateOf(JobRecord job) =>
        job.Spec.RuntimeEstimateS > 0 ? TimeSpan.FromSeconds(job.Spec.RuntimeEstimateS) : null;
}
