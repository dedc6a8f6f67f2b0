using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using NodeHealth = Scheduler.Core.Cluster.NodeHealth;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>Worker streams: registration and reconciliation, heartbeats, agent events, loss.</summary>
internal sealed partial class SchedulerLoop
{
    private async Task WorkerConnectedAsync(WorkerConnected connected, CancellationToken ct)
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

        var record = ProtoMapping.ToRecord(registration, entry?.Record);
        var lost = new List<JobRecord>();
        var known = entry is not null;
        if (entry is null)
        {
            entry = new NodeEntry(record, ProtoMapping.ToState(record), now);
            _nodes[record.Id] = entry;
        }
        else if (!ProtoMapping.SameShape(entry.Record, record))
        {
            // The host changed (GPU swapped, capacity resized): rebuild and re-apply what still fits.
            entry.State = ProtoMapping.ToState(record);
            foreach (var job in _jobs.Values.Where(j => j.HoldsAllocation && j.NodeId == record.Id).ToArray())
            {
                if (!TryReallocate(job))
                {
                    lost.Add(job);
                }
            }
        }

        if (!known || entry.Record != record)
        {
            await _store.SaveNodeAsync(record, ct);
            entry.Record = record;
        }

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
        _dirtyNodes.Add(entry.Id);
        _needsPass = true;
        Send(entry, new MasterCommand
        {
            Registered = new Registered
            {
                NodeId = entry.Id,
                HeartbeatIntervalMs = _options.HeartbeatIntervalMs,
                DeadAfterMs = _options.DeadAfterMs,
            },
        });
        LogRegistered(entry.Id, session.Peer, registration.Gpus.Count, registration.Agents.Count, _epoch);

        // Reconcile: the store says what should run here, the worker says what does.
        var reported = registration.Agents.Select(a => (a.JobId, a.Attempt)).ToHashSet();
        foreach (var job in _jobs.Values.Where(j => j.HoldsAllocation && j.NodeId == entry.Id).ToArray())
        {
            if (!reported.Contains((job.Id, job.Attempt)) && !lost.Contains(job))
            {
                lost.Add(job);
            }
        }

        await LoseAsync(lost, $"worker {entry.Id} no longer runs it", ct);
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
                _dirtyNodes.Add(entry.Id);
                foreach (var agent in message.Heartbeat.Agents)
                {
                    await AgentStatusAsync(entry, agent, ct);
                }

                // Processed, so LastSeen is at least the moment the worker sent it: the worker's
                // fencing clock may restart from that moment.
                Send(entry, new MasterCommand { HeartbeatAck = new HeartbeatAck { Sequence = message.Heartbeat.Sequence } });
                break;
            case WorkerMessage.BodyOneofCase.Leaving:
                // Nothing new goes there; its agents' exits follow, each requeued without using a retry.
                entry.State.Health = NodeHealth.Leaving;
                _dirtyNodes.Add(entry.Id);
                LogNodeLeaving(entry.Id, message.Leaving.Reason);
                break;
            case WorkerMessage.BodyOneofCase.AgentEvent when message.AgentEvent.Agent is { } agent:
                await AgentStatusAsync(entry, agent, ct);
                break;
            case WorkerMessage.BodyOneofCase.Logs:
                if (_pendingLogs.Remove(message.Logs.RequestId, out var pending))
                {
                    if (message.Logs.Found)
                    {
                        pending.Reply.TrySetResult(new GetLogsResponse
                        {
                            Data = message.Logs.Data,
                            Truncated = message.Logs.Truncated,
                            NodeId = pending.NodeId,
                            Attempt = pending.Attempt,
                        });
                    }
                    else
                    {
                        pending.Reply.TrySetException(new Grpc.Core.RpcException(new Grpc.Core.Status(
                            Grpc.Core.StatusCode.NotFound, $"worker {pending.NodeId} has no output for that job attempt")));
                    }
                }

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

            _dirtyNodes.Add(entry.Id);
            LogDisconnected(entry.Id, session.Id);
        }

        return Task.CompletedTask;
    }

    private async Task MarkDeadAsync(NodeEntry entry, TimeSpan silent, CancellationToken ct)
    {
        entry.State.Health = NodeHealth.Dead;
        _dirtyNodes.Add(entry.Id);
        LogNodeDead(entry.Id, (long)silent.TotalMilliseconds);
        if (entry.Session is { } session)
        {
            // Still connected but silent (stalled): cut it, so it must re-register and reconcile.
            entry.Session = null;
            session.Close();
        }

        var held = _jobs.Values.Where(j => j.HoldsAllocation && j.NodeId == entry.Id).ToArray();
        await LoseAsync(held, $"node {entry.Id} silent for {silent.TotalSeconds:F1}s", ct);
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
            var released = ReleaseOf(job, now);
            if (job.IsTerminal)
            {
                next.Add(released);
                continue;
            }

            Notify(released with { State = JobState.Lost, Message = why });
            next.Add(Requeue(released with { LostAttempt = job.Attempt }, why, countsAsRetry: !job.RequeueOnExit, now));
        }

        await ApplyAsync(next, ct);
    }

    private async Task AgentStatusAsync(NodeEntry entry, AgentStatus agent, CancellationToken ct)
    {
        var exited = agent.State is AgentState.Exited or AgentState.FailedToStart;
        if (exited && _jobs.TryGetValue(agent.JobId, out var given) && IsGivenUp(given, entry, agent))
        {
            await GivenUpAttemptExitedAsync(entry, given, agent, ct);
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
                Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
            }
            else
            {
                LogStaleAgent(agent.JobId, agent.Attempt, entry.Id);
                SendStop(entry, agent.JobId, agent.Attempt, "attempt is no longer current");
            }

            return;
        }

        var now = _time.GetUtcNow();
        if (!exited)
        {
            if (job.State == JobState.Assigned)
            {
                await ApplyAsync([job with { State = JobState.Running, StartedAt = now, UpdatedAt = now, Message = $"running on {entry.Id}" }], ct);
            }
            else if (job.State == JobState.Cancelled && agent.State == AgentState.Running)
            {
                SendStop(entry, job.Id, job.Attempt, "cancelled by user");
            }

            return;
        }

        var released = ReleaseOf(job, now);
        int? code = agent.HasExitCode ? agent.ExitCode : null;
        JobRecord next;
        if (job.State == JobState.Cancelled)
        {
            next = released with { ExitCode = code };
        }
        else if (agent.HostStop)
        {
            // The worker is shutting down: not the job's doing, and not a loss either.
            next = Requeue(released, $"{entry.Id} shut down", countsAsRetry: false, now);
        }
        else if (agent.Fenced)
        {
            // The worker killed it for losing us, not the job for failing: run it again elsewhere.
            Notify(released with { State = JobState.Lost, Message = $"fenced by {entry.Id}" });
            next = Requeue(released, $"fenced by {entry.Id} after losing the master", countsAsRetry: !job.RequeueOnExit, now);
        }
        else if (job.RequeueOnExit)
        {
            next = Requeue(released with { ExitCode = code }, $"{job.Message}; requeued from {entry.Id}", countsAsRetry: false, now);
        }
        else if (agent.State == AgentState.FailedToStart)
        {
            next = released with
            {
                State = JobState.Failed,
                Message = $"failed to start: {agent.Message}",
                FinishedAt = now,
            };
        }
        else
        {
            next = released with
            {
                State = code == 0 ? JobState.Succeeded : JobState.Failed,
                ExitCode = code,
                Message = code == 0 ? "exited 0" : $"exited with code {code}",
                StartedAt = job.StartedAt ?? now,
                FinishedAt = now,
            };
        }

        await ApplyAsync([next], ct);
        if (next.IsTerminal)
        {
            _metrics.Finished(next.State.ToString());
            LogFinished(next.Id, next.Attempt, next.State.ToString(), code ?? -1);
        }

        Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
    }

    /// <summary>
    /// The exit of the very attempt this master gave up on when it lost the node (a restart or a
    /// partition outlasted dead-after) while the job waits to be placed again: the worker's report
    /// is the truth, so an attempt that finished is not run a second time.
    /// </summary>
    private static bool IsGivenUp(JobRecord job, NodeEntry entry, AgentStatus agent) =>
        job.State == JobState.Pending
        && job.LostAttempt == agent.Attempt
        && job.Attempt == agent.Attempt
        && job.NodeId == entry.Id
        && !agent.Fenced
        && !agent.HostStop
        && agent.State == AgentState.Exited;

    private async Task GivenUpAttemptExitedAsync(NodeEntry entry, JobRecord job, AgentStatus agent, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        int? code = agent.HasExitCode ? agent.ExitCode : null;
        var next = job with
        {
            State = code == 0 ? JobState.Succeeded : JobState.Failed,
            ExitCode = code,
            Message = code == 0 ? $"exited 0 on {entry.Id} (reported after the node was given up)" : $"exited with code {code} on {entry.Id}",
            PendingReason = "",
            LostAttempt = null,
            StartedAt = job.StartedAt ?? now,
            FinishedAt = now,
            UpdatedAt = now,
        };
        await ApplyAsync([next], ct);
        _metrics.Finished(next.State.ToString());
        LogFinished(next.Id, next.Attempt, next.State.ToString(), code ?? -1);
        Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
    }
}
