using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Gang jobs: all replicas placed in one pass and one store write, started together, each told its
/// rank and peers; one replica gone stops them all. A gang is never a preemption victim, and a
/// drained node requeues the whole gang (its members are not migrated live).
/// </summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>The job an allocation belongs to: a job's own id, or a gang replica's.</summary>
    private JobRecord? JobOfAllocation(string allocationId) =>
        _jobs.TryGetValue(allocationId, out var job) ? job
        : GangMembers.TryParse(allocationId, out var gangId, out _) && _jobs.TryGetValue(gangId, out var gang) && gang.IsGang ? gang
        : null;

    /// <summary>Turns each gang the pass placed whole into one Assigned record in <paramref name="placed"/>; gives back any other allocation.</summary>
    private void PlaceGangs(GangPlacements gangs, DateTimeOffset now, DateTimeOffset decided, List<JobRecord> placed)
    {
        Dictionary<string, HashSet<int>>? usedPorts = null;
        foreach (var gang in gangs.All)
        {
            var job = gang.Job;
            JobRecord? assigned = null;
            string? reason = gang.Reason;
            if (gang.Allocations.Count == job.Size)
            {
                usedPorts ??= PortsInUse();
                var replicas = Replicas(job, gang.Allocations, usedPorts);
                assigned = replicas is null ? null : JobTransitions.PlaceGang(job, replicas, now);
                reason ??= assigned is null ? $"no free port from {GangMembers.FirstPort} for every replica" : null;
            }

            if (assigned is null)
            {
                // Core places all or none; should a part ever come back, it is not kept.
                foreach (var (_, allocation) in gang.Allocations)
                {
                    _nodes[allocation.NodeId].State.Release(allocation.JobId);
                    _published.NodeChanged(allocation.NodeId);
                }

                if (reason is not null && reason != job.PendingReason)
                {
                    Remember(job with { PendingReason = reason });
                }

                continue;
            }

            placed.Add(assigned);
            _metrics.Placed(now - job.UpdatedAt);
            _traces.Placed(assigned, job.UpdatedAt, now, decided);
        }
    }

    /// <summary>The replicas by rank, each with a port no other replica on its host holds; null when a host has none left.</summary>
    private ReplicaRecord[]? Replicas(JobRecord job, List<(int Rank, Core.Cluster.Allocation Allocation)> allocations, Dictionary<string, HashSet<int>> usedPorts)
    {
        var replicas = new ReplicaRecord[job.Size];
        var taken = new List<(HashSet<int> Used, int Port)>();
        foreach (var (rank, allocation) in allocations.OrderBy(a => a.Rank))
        {
            var node = _nodes[allocation.NodeId];
            var host = GangMembers.HostOf(node.Record);
            if (!usedPorts.TryGetValue(host, out var used))
            {
                used = [];
                usedPorts[host] = used;
            }

            if (GangMembers.FreePort(used) is not { } port)
            {
                foreach (var (set, p) in taken)
                {
                    set.Remove(p);
                }

                return null;
            }

            used.Add(port);
            taken.Add((used, port));
            var uuids = allocation.Gpus.Select(g => node.State.Gpus[g.Index].Uuid).ToArray();
            replicas[rank] = new ReplicaRecord(rank, node.Id, allocation.Gpus, uuids, $"{host}:{port}");
        }

        return replicas;
    }

    /// <summary>The ports of the replicas that hold capacity now, by host.</summary>
    private Dictionary<string, HashSet<int>> PortsInUse()
    {
        var used = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        foreach (var node in _nodes.Values)
        {
            foreach (var id in node.State.Allocations.Keys)
            {
                if (GangMembers.TryParse(id, out var gangId, out var rank)
                    && _jobs.TryGetValue(gangId, out var gang)
                    && rank < gang.Replicas.Count
                    && gang.Replicas[rank] is { Holds: true } replica)
                {
                    var host = GangMembers.HostOf(node.Record);
                    if (!used.TryGetValue(host, out var ports))
                    {
                        ports = [];
                        used[host] = ports;
                    }

                    ports.Add(GangMembers.PortOf(replica.Address));
                }
            }
        }

        return used;
    }

    /// <summary>Sends every replica's start, each with its rank, the world size and every peer's address.</summary>
    private void StartGang(JobRecord job)
    {
        var peers = job.Replicas.Select(r => r.Address).ToArray();
        foreach (var replica in job.Replicas)
        {
            if (!_nodes.TryGetValue(replica.NodeId, out var entry))
            {
                continue;
            }

            var onNode = job.Replicas.Where(r => r.NodeId == replica.NodeId).ToList();
            var rank = new GangRank
            {
                JobId = job.Id,
                Rank = replica.Rank,
                WorldSize = job.Replicas.Count,
                LocalRank = onNode.IndexOf(replica),
                LocalWorldSize = onNode.Count,
            };
            rank.Peers.Add(peers);
            _commands.StartReplica(entry, job, replica, rank);
        }
    }

    /// <summary>Stops every replica that still holds capacity; each one's exit is then reported and recorded.</summary>
    private void StopHeldReplicas(JobRecord job, string reason)
    {
        foreach (var replica in job.Replicas)
        {
            if (replica.Holds && _nodes.TryGetValue(replica.NodeId, out var entry))
            {
                _commands.Stop(entry, GangMembers.AgentId(job.Id, replica.Rank), job.Attempt, reason);
            }
        }
    }

    /// <summary>Frees the allocation of every replica that held one in <paramref name="previous"/> and holds none in <paramref name="record"/>.</summary>
    private void ReleaseReplicas(JobRecord previous, JobRecord record)
    {
        var still = GangMembers.HeldAllocations(record).ToHashSet();
        foreach (var held in GangMembers.HeldAllocations(previous))
        {
            if (!still.Contains(held) && _nodes.TryGetValue(held.NodeId, out var entry))
            {
                entry.State.Release(held.AllocationId);
                _published.NodeChanged(held.NodeId);
                _needsPass = true;
            }
        }
    }

    /// <summary>Allocates again what the gang's replicas hold (all, or those on <paramref name="onNode"/>); false when one cannot be.</summary>
    private bool TryReallocateReplicas(JobRecord job, string? onNode)
    {
        var ok = true;
        foreach (var replica in job.Replicas)
        {
            if (!replica.Holds || (onNode is not null && replica.NodeId != onNode))
            {
                continue;
            }

            if (!_nodes.TryGetValue(replica.NodeId, out var entry))
            {
                ok = false;
                continue;
            }

            try
            {
                entry.State.Allocate(new Allocation(GangMembers.AgentId(job.Id, replica.Rank), replica.NodeId, ProtoMapping.ToRequest(job.Spec.Resources), replica.GpuShares));
            }
            catch (InvalidOperationException)
            {
                ok = false;
            }
        }

        return ok;
    }

    /// <summary>
    /// The replicas a node held that are gone (it died, or re-registered without them, or its shape
    /// changed so they no longer fit): each gang they belong to breaks and its other replicas are stopped.
    /// </summary>
    private async Task LoseReplicasAsync(NodeEntry entry, Func<JobRecord, ReplicaRecord, bool> gone, string why, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        foreach (var gang in _jobsByNode.On(entry.Id, _jobs, j => j.IsGang))
        {
            var next = gang;

            // Replicas lost together were told to stop only if their gang was being stopped before this loss.
            var toldToStop = JobTransitions.PhaseOf(gang) is not (JobPhase.Assigned or JobPhase.Running);
            foreach (var replica in gang.Replicas.Where(r => r.Holds && r.NodeId == entry.Id && gone(gang, r)))
            {
                next = JobTransitions.ReplicaLost(next, replica.Rank, $"replica {replica.Rank}: {why}", countsAsRetry: true, now, toldToStop) ?? next;
            }

            if (next != gang)
            {
                await ApplyGangChangeAsync(gang, next, ct);
            }
        }
    }

    /// <summary>An agent event of a gang replica (its agent id names the gang and the rank).</summary>
    private async Task GangAgentStatusAsync(NodeEntry entry, AgentStatus agent, string gangId, int rank, CancellationToken ct)
    {
        var exited = agent.State is AgentState.Exited or AgentState.FailedToStart;
        if (!_jobs.TryGetValue(gangId, out var job)
            || !job.IsGang
            || job.Attempt != agent.Attempt
            || rank >= job.Replicas.Count
            || job.Replicas[rank] is not { Holds: true } replica
            || replica.NodeId != entry.Id)
        {
            if (job is { IsGang: true } && await LateReplicaAsync(entry, agent, job, rank, exited, ct))
            {
                return;
            }

            // A replica of an attempt the master no longer wants here: stop it, forget it.
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

        var now = _time.GetUtcNow();
        if (!exited)
        {
            if (agent.State == AgentState.Starting)
            {
                // Still waiting for the worker's launcher: not running yet (its RUNNING report follows).
                return;
            }

            var started = JobTransitions.ReplicaStarted(job, rank, now);
            if (started is not null)
            {
                await ApplyAsync([started], ct);
            }

            if (started is not null && JobTransitions.PhaseOf(started) is JobPhase.Moving or JobPhase.Ending)
            {
                // First seen running after its gang was stopped: make sure the stop reaches it.
                _commands.Stop(entry, agent.JobId, agent.Attempt, started.Message);
            }

            return;
        }

        int? code = agent.HasExitCode ? agent.ExitCode : null;
        var next = agent.HostStop ? JobTransitions.ReplicaLost(job, rank, $"replica {rank}: {entry.Id} shut down", countsAsRetry: false, now)
            : agent.Fenced ? JobTransitions.ReplicaLost(job, rank, $"replica {rank}: fenced by {entry.Id} after losing the master", countsAsRetry: true, now)
            : agent.State == AgentState.FailedToStart ? JobTransitions.ReplicaFailedToStart(job, rank, agent.Message, now)
            : JobTransitions.ReplicaExited(job, rank, code, now);
        if (next is not null)
        {
            await ApplyGangChangeAsync(job, next, ct);
        }

        _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
    }

    /// <summary>
    /// A replica the master gave up as lost with its node, heard of again when its worker comes back. Still
    /// running: it holds its capacity again and is stopped, and the gang is not placed again before it has
    /// exited (unless its capacity went to another job meanwhile: then it is only stopped). Exited by itself:
    /// its exit is recorded, and is the gang's success when every replica of that attempt exited 0 so (a rerun
    /// already placed is then stopped). False when it is no such replica.
    /// </summary>
    private async Task<bool> LateReplicaAsync(NodeEntry entry, AgentStatus agent, JobRecord job, int rank, bool exited, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        if (!exited)
        {
            if (JobTransitions.ReplicaReturned(job, agent.Attempt, rank, entry.Id, now) is not { } back)
            {
                await MarkStoppedAsync(entry, agent, job, rank, ct);
                return false;
            }

            var allocation = new Allocation(agent.JobId, entry.Id, ProtoMapping.ToRequest(job.Spec.Resources), job.Replicas[rank].GpuShares);
            try
            {
                entry.State.Allocate(allocation);
            }
            catch (InvalidOperationException)
            {
                await MarkStoppedAsync(entry, agent, job, rank, ct);
                return false;
            }

            try
            {
                await ApplyAsync([back], ct);
            }
            catch
            {
                entry.State.Release(allocation.JobId);
                throw;
            }

            _published.NodeChanged(entry.Id);
            LogReplicaReturned(job.Id, agent.Attempt, rank, entry.Id);
            _commands.Stop(entry, agent.JobId, agent.Attempt, back.Message);
            return true;
        }

        if (agent.State != AgentState.Exited || agent.Fenced || agent.HostStop || agent.Migrated
            || JobTransitions.ReplicaLateExit(job, agent.Attempt, rank, agent.HasExitCode ? agent.ExitCode : null, entry.Id, now) is not { } late)
        {
            return false;
        }

        await ApplyGangChangeAsync(job, late, ct);
        if (late.State == JobState.Succeeded && job.State != JobState.Succeeded)
        {
            if (!late.HoldsAllocation && !job.HoldsAllocation)
            {
                // A rerun still holding is counted once its replicas have stopped.
                _metrics.Finished(late.State.ToString());
            }

            LogLateGangSuccess(job.Id, agent.Attempt, late.Message);
        }

        _commands.Send(entry, new MasterCommand { AckExit = new AckExit { JobId = agent.JobId, Attempt = agent.Attempt } });
        return true;
    }

    /// <summary>A given-up replica the caller is about to stop (not held again): stored as stopped first, so its exit is not counted as the gang's work.</summary>
    private async Task MarkStoppedAsync(NodeEntry entry, AgentStatus agent, JobRecord job, int rank, CancellationToken ct)
    {
        if (JobTransitions.LostReplicaStopped(job, agent.Attempt, rank, entry.Id, _time.GetUtcNow()) is { } marked)
        {
            await ApplyAsync([marked], ct);
        }
    }

    /// <summary>Persists a gang's change; when it just broke (or ended) with replicas still holding, those are stopped now.</summary>
    private async Task ApplyGangChangeAsync(JobRecord previous, JobRecord next, CancellationToken ct)
    {
        await ApplyAsync([next], ct);
        if (next.IsTerminal && !next.HoldsAllocation && previous.HoldsAllocation)
        {
            _metrics.Finished(next.State.ToString());
            LogFinished(next);
        }

        if (JobTransitions.PhaseOf(previous) is JobPhase.Assigned or JobPhase.Running
            && JobTransitions.PhaseOf(next) is JobPhase.Moving or JobPhase.Ending)
        {
            LogGangStopping(next.Id, next.Attempt, next.Message);
            StopHeldReplicas(next, next.Message);
        }
    }

    [LoggerMessage(140, LogLevel.Warning, "Gang {JobId} attempt {Attempt} is stopped: {Why}")]
    private partial void LogGangStopping(string jobId, int attempt, string why);

    [LoggerMessage(141, LogLevel.Warning, "Gang {JobId} attempt {Attempt}: replica {Rank} still runs on {NodeId}, given up earlier; it holds its capacity again and is stopped")]
    private partial void LogReplicaReturned(string jobId, int attempt, int rank, string nodeId);

    [LoggerMessage(142, LogLevel.Information, "Gang {JobId} succeeded by attempt {Attempt}, reported late: {Why}")]
    private partial void LogLateGangSuccess(string jobId, int attempt, string why);
}
