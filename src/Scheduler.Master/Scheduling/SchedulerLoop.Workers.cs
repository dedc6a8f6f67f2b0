using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using NodeHealth = Scheduler.Core.Cluster.NodeHealth;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>Worker streams: registration and reconciliation, heartbeats, agent events, loss.</summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>
    /// Decides a registration and stages it with the batch's group write (its node record only when
    /// that changed): nothing of it is current, and the worker is not answered, until the write is
    /// durable (<see cref="AcceptRegistrationAsync"/>). 10,000 workers registering on etcd cost one
    /// transaction per batch instead of one round trip each on the loop.
    /// </summary>
    private async Task WorkerConnectedAsync(WorkerConnected connected, CancellationToken ct)
    {
        var session = connected.Session;
        var registration = connected.Registration;
        if (session.Closed.IsCancellationRequested)
        {
            // The stream ended while this waited in the inbox (the worker gave up on an answer that
            // took longer than its handshake timeout): nothing can reach it, and it registers again on
            // a new stream. In a registration storm on an overloaded master (10,000 simulated nodes at
            // load 60-85) the master logged 133,263 registrations while their workers saw 29,069
            // accepted: the rest had been given up on, each still replacing the node's session and
            // reconciling its jobs for nothing.
            LogRegistrationAbandoned(registration.NodeId, session.Id);
            return;
        }

        if (_stagedRegistrations.Holds(registration.NodeId))
        {
            // A second registration of the node in one group (its first stream was given up on): decided
            // once the first is stored and accepted.
            await CommitSubmitsAsync(ct);
        }

        _nodes.TryGetValue(registration.NodeId, out var known);
        var record = ProtoMapping.ToRecord(registration, known?.Record);

        // By value: a worker that registers again unchanged (a reconnect) writes nothing.
        _stagedRegistrations.Add(connected, record, write: known is null || !known.Record.Equals(record));
    }

    /// <summary>
    /// A registration whose record is durable (or needed no write): the session replaces the node's
    /// old one, the worker is answered, and its agents are reconciled with what the store says runs there.
    /// </summary>
    private async Task AcceptRegistrationAsync(WorkerConnected connected, NodeRecord record, CancellationToken ct)
    {
        var session = connected.Session;
        var registration = connected.Registration;
        var now = _time.GetUtcNow();
        _nodes.TryGetValue(registration.NodeId, out var entry);
        if (entry?.Session is { } old && old != session)
        {
            LogSessionReplaced(registration.NodeId, old.Id, session.Id);
            old.Close();
        }

        var lost = new List<JobRecord>();
        var reshaped = new HashSet<string>(StringComparer.Ordinal);
        if (entry is null)
        {
            entry = new NodeEntry(record, ProtoMapping.ToState(record), now);
            _nodes[record.Id] = entry;
        }
        else if (!ProtoMapping.SameShape(entry.Record, record))
        {
            // The host changed (GPU swapped, capacity resized): rebuild and re-apply what still fits.
            entry.State = ProtoMapping.ToState(record);
            foreach (var job in _jobsByNode.On(record.Id, _jobs, j => !j.IsGang))
            {
                if (!TryReallocate(job))
                {
                    lost.Add(job);
                }
            }

            foreach (var gang in _jobsByNode.On(record.Id, _jobs, j => j.IsGang))
            {
                if (!TryReallocateReplicas(gang, record.Id))
                {
                    // Whatever of it fits again is released when the gang breaks.
                    reshaped.Add(gang.Id);
                }
            }
        }

        entry.Record = record;

        if (registration.LastEpoch > _epoch)
        {
            // This worker obeyed a term newer than ours: the store lost history (restored from an old
            // backup, or started anew). Move past it, or the worker would ignore every command.
            var raised = await _store.RaiseEpochAsync(registration.LastEpoch + 1, ct);
            LogEpochAdvanced(registration.NodeId, registration.LastEpoch, _epoch, raised);
            _epoch = raised;
        }

        entry.Session = session;
        entry.LastSeen = now;
        entry.State.Health = NodeHealth.Ready;
        _published.NodeChanged(entry.Id);
        _needsPass = true;
        _commands.Send(entry, new MasterCommand
        {
            Registered = new Registered
            {
                NodeId = entry.Id,
                HeartbeatIntervalMs = _options.HeartbeatIntervalMs,
                DeadAfterMs = _options.DeadAfterMs,
            },
        });
        LogRegistered(entry.Id, session.Peer, registration.Gpus.Count, registration.Agents.Count, _epoch);
        if (_awaitingNodes.Remove(entry.Id) && _awaitingNodes.Count == 0)
        {
            _needsPass = true;
        }

        // Reconcile: the store says what should run here, the worker says what does.
        var reported = registration.Agents.Select(a => (a.JobId, a.Attempt)).ToHashSet();
        foreach (var job in _jobsByNode.On(entry.Id, _jobs, j => !j.IsGang))
        {
            if (!reported.Contains((job.Id, job.Attempt)) && !lost.Contains(job))
            {
                lost.Add(job);
            }
        }

        await LoseAsync(lost, $"worker {entry.Id} no longer runs it", ct);
        await LoseReplicasAsync(
            entry,
            (gang, replica) => reshaped.Contains(gang.Id) || !reported.Contains((GangMembers.AgentId(gang.Id, replica.Rank), gang.Attempt)),
            $"worker {entry.Id} no longer runs it",
            ct);
        // A stop sent on an earlier stream, or by an earlier term, may never have been read: a replica still
        // running of a gang being stopped is told again, or the gang would hold its capacity for as long as it runs.
        var running = registration.Agents.Where(a => a.State == AgentState.Running).Select(a => (a.JobId, a.Attempt)).ToHashSet();
        foreach (var gang in _jobsByNode.On(entry.Id, _jobs, j => j.IsGang && JobTransitions.PhaseOf(j) is JobPhase.Moving or JobPhase.Ending))
        {
            foreach (var replica in gang.Replicas.Where(r => r.Phase == ReplicaPhase.Running && r.NodeId == entry.Id))
            {
                var agentId = GangMembers.AgentId(gang.Id, replica.Rank);
                if (running.Contains((agentId, gang.Attempt)))
                {
                    _commands.Stop(entry, agentId, gang.Attempt, gang.Message);
                }
            }
        }

        foreach (var agent in registration.Agents)
        {
            await AgentStatusAsync(entry, agent, ct);
        }
    }

    private async Task WorkerMessageAsync(WorkerMessageReceived received, CancellationToken ct)
    {
        if (!_nodes.TryGetValue(received.Session.NodeId, out var entry) || entry.Session != received.Session)
        {
            // A message from a replaced stream: the new registration already reconciled this node.
            return;
        }

        var now = _time.GetUtcNow();
        entry.LastSeen = now;
        if (entry.State.Health is not NodeHealth.Ready and not NodeHealth.Leaving)
        {
            entry.State.Health = NodeHealth.Ready;
            _needsPass = true;
            LogNodeReady(entry.Id);
        }

        var message = received.Message;
        switch (message.BodyCase)
        {
            case WorkerMessage.BodyOneofCase.Heartbeat:
                entry.LastHeartbeat = message.Heartbeat;
                entry.LastHeartbeatAt = now;
                _published.NodeChanged(entry.Id);
                foreach (var agent in message.Heartbeat.Agents)
                {
                    await AgentStatusAsync(entry, agent, ct);
                }

                // Acknowledged by the stream's reader when it arrived (WorkerSession.Heard), not here:
                // the failure detector already counts the node heard from that moment.
                break;
            case WorkerMessage.BodyOneofCase.Leaving:
                // Nothing new goes there; its agents' exits follow, each requeued without using a retry.
                entry.State.Health = NodeHealth.Leaving;
                _published.NodeChanged(entry.Id);
                LogNodeLeaving(entry.Id, message.Leaving.Reason);
                break;
            case WorkerMessage.BodyOneofCase.AgentEvent when message.AgentEvent.Agent is { } agent:
                await AgentStatusAsync(entry, agent, ct);
                break;
            case WorkerMessage.BodyOneofCase.Logs:
                _logRequests.Complete(message.Logs);
                break;
            case WorkerMessage.BodyOneofCase.MigrationReport:
                await MigrationReportAsync(entry, message.MigrationReport, ct);
                break;
            case WorkerMessage.BodyOneofCase.CheckpointReport:
                await CheckpointReportAsync(entry, message.CheckpointReport, ct);
                break;
            case WorkerMessage.BodyOneofCase.CommandRejected:
                LogCommandRejected(entry.Id, message.CommandRejected.Command, message.CommandRejected.Reason);
                break;
        }
    }

    private Task WorkerDisconnected(WorkerDisconnected disconnected)
    {
        var session = disconnected.Session;
        if (_nodes.TryGetValue(session.NodeId, out var entry) && entry.Session == session)
        {
            // The stream is the first signal: no new work goes there from now on, but its jobs are
            // requeued only after the grace period, when the worker has stopped them itself.
            entry.Session = null;
            if (entry.State.Health == NodeHealth.Ready)
            {
                entry.State.Health = NodeHealth.Suspect;
            }
            else if (entry.State.Health == NodeHealth.Leaving && entry.State.Allocations.Count == 0)
            {
                // Left cleanly: every agent's exit was reported, nothing to wait for.
                entry.State.Health = NodeHealth.Dead;
            }

            _published.NodeChanged(entry.Id);
            LogDisconnected(entry.Id, session.Id);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The failure detector's pass over every node: late ones become suspect; those silent past
    /// dead-after are declared dead, all at once unless so many are silent together that the
    /// <see cref="MassSilenceGuard"/> paces them.
    /// </summary>
    private async Task JudgeSilenceAsync(DateTimeOffset now, CancellationToken ct)
    {
        // Until the server listens no worker can reach this master: nobody is judged silent yet.
        if (!_serving)
        {
            return;
        }

        var judgedDead = new List<((NodeEntry Entry, DateTimeOffset Heard) Node, TimeSpan Silent)>();
        var notDead = 0;
        var unready = 0;
        foreach (var entry in _nodes.Values)
        {
            if (entry.State.Health != NodeHealth.Dead)
            {
                notDead++;
            }

            if (entry.State.Health == NodeHealth.Suspect)
            {
                unready++;
            }

            var heard = entry.LastHeard;
            var silent = now - heard;
            switch (_detector.Judge(entry.State.Health, silent))
            {
                case NodeVerdict.Dead:
                    unready += entry.State.Health == NodeHealth.Suspect ? 0 : 1;
                    judgedDead.Add(((entry, heard), silent));
                    break;
                case NodeVerdict.Suspect:
                    unready++;
                    entry.State.Health = NodeHealth.Suspect;
                    _published.NodeChanged(entry.Id);
                    LogNodeSuspect(entry.Id, (long)silent.TotalMilliseconds);
                    break;
            }
        }

        var step = _massSilence.Admit(judgedDead, notDead, now, unready);
        if (step.Change == MassSilenceChange.Began)
        {
            LogMassSilence(step.Affected, step.Population, (long)_detector.DeadAfter.TotalMilliseconds, step.PerSecond);
        }
        else if (step.Change == MassSilenceChange.Ended)
        {
            LogMassSilenceOver(step.DeclaredInEpisode);
        }

        foreach (var (entry, heard) in step.Declare)
        {
            await MarkDeadAsync(entry, heard, now - heard, ct);
        }
    }

    private async Task MarkDeadAsync(NodeEntry entry, DateTimeOffset heard, TimeSpan silent, CancellationToken ct)
    {
        if (entry.Session is { } session)
        {
            // Still connected but silent (stalled): cut it, so it must re-register and reconcile. Unless
            // its stream heard from it since the verdict (and may have acknowledged a heartbeat): alive.
            if (!session.CloseIfNotHeardAfter(heard))
            {
                return;
            }

            entry.Session = null;
        }

        entry.State.Health = NodeHealth.Dead;
        _published.NodeChanged(entry.Id);
        LogNodeDead(entry.Id, (long)silent.TotalMilliseconds);

        var held = _jobsByNode.On(entry.Id, _jobs, j => !j.IsGang);
        await LoseAsync(held, $"node {entry.Id} silent for {silent.TotalSeconds:F1}s", ct);
        await LoseReplicasAsync(entry, (_, _) => true, $"node {entry.Id} silent for {silent.TotalSeconds:F1}s", ct);
    }

    /// <summary>Jobs whose agent is gone with its node: released, shown as LOST, then requeued or failed.</summary>
    private async Task LoseAsync(IReadOnlyCollection<JobRecord> jobs, string why, CancellationToken ct)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var next = new List<JobRecord>(jobs.Count);
        foreach (var job in jobs)
        {
            if (JobTransitions.Lost(job, why, now) is not { } lost)
            {
                continue;
            }

            if (!job.IsTerminal)
            {
                // Watchers see the loss itself, then the requeue.
                Notify(job with { State = JobState.Lost, Message = why, HoldsAllocation = false, UpdatedAt = now });
            }

            next.Add(lost);
        }

        await ApplyAsync(next, ct);
    }

    private async Task AgentStatusAsync(NodeEntry entry, AgentStatus agent, CancellationToken ct)
    {
        if (GangMembers.TryParse(agent.JobId, out var gangId, out var rank))
        {
            await GangAgentStatusAsync(entry, agent, gangId, rank, ct);
            return;
        }

        // A second report about the same job in one group is decided on what the first stored.
        await CommitIfStagedAsync(agent.JobId, ct);
        var exited = agent.State is AgentState.Exited or AgentState.FailedToStart;
        int? code = agent.HasExitCode ? agent.ExitCode : null;
        var now = _time.GetUtcNow();
        if (exited && agent.Migrated && _jobs.TryGetValue(agent.JobId, out var moving)
            && moving.Attempt == agent.Attempt && moving.NodeId == entry.Id && moving.HoldsAllocation)
        {
            if (moving.Migration is not null || moving.Checkpointing is { Stop: true })
            {
                if (moving.Checkpointing is { Stop: true } op)
                {
                    _stoppedForCheckpoint[moving.Id] = (op.Attempt, now);
                }

                // Stopped because it moved (or its state is stored): the source's report decides what happens next.
                _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
                return;
            }

            // Its migration was rolled back meanwhile, but the agent is gone here: run it again.
            if (JobTransitions.HostStopped(moving, now) is { } again)
            {
                Finish(entry, agent, again);
                return;
            }
        }

        if (exited && !agent.Fenced && !agent.HostStop && !agent.Migrated && agent.State == AgentState.Exited && _jobs.TryGetValue(agent.JobId, out var given))
        {
            if (JobTransitions.LateExit(given, agent.Attempt, code, entry.Id, now) is { } late)
            {
                Finish(entry, agent, late);
                return;
            }

            if (code == 0 && JobTransitions.Superseded(given, agent.Attempt, entry.Id, now) is { } superseded)
            {
                Finish(entry, agent, superseded, thenStored: () =>
                {
                    if (_nodes.TryGetValue(superseded.NodeId!, out var rerunOn))
                    {
                        _commands.Stop(rerunOn, superseded.Id, superseded.Attempt, "an earlier attempt of this job already finished");
                    }
                });
                return;
            }
        }

        if (agent.State == AgentState.Exited && agent.Fenced && !agent.HostStop && !agent.Migrated && _jobs.TryGetValue(agent.JobId, out var uncounted)
            && JobTransitions.LateFenced(uncounted, agent.Attempt, entry.Id, now) is { } charged)
        {
            // Given up with its node before its worker could say it ran: that loss uses its retry now. Not when
            // its host had stopped it (shutting down) or it had moved: reported in time, those use no retry either.
            Finish(entry, agent, charged, thenStored: () =>
            {
                if (charged.IsTerminal && charged.HoldsAllocation && _nodes.TryGetValue(charged.NodeId!, out var rerunOn))
                {
                    _commands.Stop(rerunOn, charged.Id, charged.Attempt, charged.Message);
                }
            });
            return;
        }

        if (!_jobs.TryGetValue(agent.JobId, out var job)
            || !job.HoldsAllocation
            || job.NodeId != entry.Id
            || job.Attempt != agent.Attempt)
        {
            // An attempt the master no longer wants here (requeued, or unknown): stop it, forget it.
            if (exited)
            {
                _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
            }
            else
            {
                LogStaleAgent(agent.JobId, agent.Attempt, entry.Id);
                _commands.Stop(entry, agent.JobId, agent.Attempt, "attempt is no longer current");
            }

            return;
        }

        if (!exited)
        {
            // STARTING (still waiting for the worker's launcher) is not running: the job stays ASSIGNED, so
            // losing it then uses no retry (LossCountsAsRetry) and its start time is the process's.
            if (agent.State != AgentState.Starting && JobTransitions.Started(job, now) is { } running)
            {
                StageAgentChange(WithDowntime(running, now));
            }
            else if (JobTransitions.PhaseOf(job) == JobPhase.Ending && agent.State == AgentState.Running)
            {
                _commands.Stop(entry, job.Id, job.Attempt, job.Message);
            }

            return;
        }

        JobRecord? next;
        if (agent.HostStop)
        {
            next = JobTransitions.HostStopped(job, now);
        }
        else if (agent.Fenced)
        {
            if (!job.IsTerminal)
            {
                Notify(job with { State = JobState.Lost, Message = $"fenced by {entry.Id}", HoldsAllocation = false, UpdatedAt = now });
            }

            // EXITED: its process ran, even if its RUNNING report never reached the store; a start the worker
            // refused or dropped before launching it comes as FAILED_TO_START.
            next = JobTransitions.Fenced(job, ran: agent.State == AgentState.Exited, now);
        }
        else if (agent.State == AgentState.FailedToStart && job.RestoreFrom.Length > 0
            && JobTransitions.PhaseOf(job) is JobPhase.Assigned or JobPhase.Running)
        {
            // Its checkpoint was not usable there (a wiped or incomplete restore folder): the node's fault,
            // not the job's. Requeued without that copy, so it cannot loop on it. Not when the master had
            // stopped it (Moving, Ending): a start stopped while it waited for the worker's launcher is
            // dropped unlaunched and reported FAILED_TO_START, which says nothing about the copy.
            var checkpoint = job.Checkpoint;
            if (checkpoint is not null && checkpoint.Id == job.RestoreFrom)
            {
                var holders = checkpoint.Nodes.Where(n => n != entry.Id).ToList();
                checkpoint = holders.Count == 0 ? null : checkpoint with { Nodes = holders };
            }

            next = JobTransitions.Lost(job with { Checkpoint = checkpoint, RestoreFrom = "" }, $"could not restore on {entry.Id}: {agent.Message}", now);
        }
        else if (agent.State == AgentState.FailedToStart)
        {
            next = JobTransitions.FailedToStart(job, agent.Message, now);
        }
        else
        {
            next = JobTransitions.Exited(job, code, now);
        }

        if (next is null)
        {
            _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
            return;
        }

        Finish(entry, agent, next);
    }

    /// <summary>
    /// Stages the outcome of an agent's exit with the group; once stored, acknowledges it so the worker
    /// may forget the agent, then runs <paramref name="thenStored"/>.
    /// </summary>
    private void Finish(NodeEntry entry, AgentStatus agent, JobRecord next, Action? thenStored = null)
    {
        StageAgentChange(next, () =>
        {
            if (next.IsTerminal)
            {
                _metrics.Finished(next.State.ToString());
                LogFinished(next);
            }

            _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
            thenStored?.Invoke();
        });
    }
}
