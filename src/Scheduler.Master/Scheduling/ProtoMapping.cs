using Google.Protobuf.WellKnownTypes;
using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using NodeHealth = Scheduler.Core.Cluster.NodeHealth;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>Between the wire types and the master's records and Core's values.</summary>
internal static class ProtoMapping
{
    private static readonly Dictionary<string, string> NoLabels = new();

    public static ResourceRequest ToRequest(Contracts.V1.Resources r) => new(r.CpuMillis, r.MemoryMib, r.Gpus, r.GpuMilli);

    public static JobDemand ToDemand(JobRecord job)
    {
        var spec = job.Spec;
        IReadOnlyDictionary<string, string> selector = spec.NodeSelector.Count == 0 ? NoLabels : spec.NodeSelector;
        // Validated at submit: an unknown name cannot be stored, so a failed parse means no requirement.
        _ = TopologyLevels.TryParse(spec.Topology, out var topology);
        return new JobDemand(job.Id, ToRequest(spec.Resources), spec.GpuModels, selector) { RequiredTopology = topology };
    }

    public static Job ToProto(JobRecord j)
    {
        var job = new Job
        {
            Id = j.Id,
            Spec = j.Spec,
            State = j.State,
            PendingReason = j.PendingReason,
            Attempt = j.Attempt,
            NodeId = j.NodeId ?? "",
            Message = j.Message,
            RequestId = j.RequestId,
            CreatedAt = Timestamp.FromDateTimeOffset(j.CreatedAt),
            UpdatedAt = Timestamp.FromDateTimeOffset(j.UpdatedAt),
            Requeues = j.Requeues,
        };
        job.GpuUuids.Add(j.GpuUuids);
        job.GpuIndices.Add(j.GpuShares.Select(g => g.Index));
        if (j.ExitCode is { } code)
        {
            job.ExitCode = code;
        }

        if (j.StartedAt is { } started)
        {
            job.StartedAt = Timestamp.FromDateTimeOffset(started);
        }

        if (j.FinishedAt is { } finished)
        {
            job.FinishedAt = Timestamp.FromDateTimeOffset(finished);
        }

        if (j.Migration is { } m)
        {
            // Still running on its source meanwhile: shown as migrating.
            job.State = JobState.Migrating;
            job.Migration = new MigrationStatus
            {
                Id = m.Id,
                SourceNode = m.SourceNode,
                TargetNode = m.TargetNode,
                Phase = "copying",
                StartedAt = Timestamp.FromDateTimeOffset(m.StartedAt),
            };
        }

        if (j.LastMigration is { } last)
        {
            job.LastMigration = new MigrationStatus
            {
                Id = last.Id,
                SourceNode = last.SourceNode,
                TargetNode = last.TargetNode,
                Phase = last.Phase,
                Rounds = last.Rounds,
                BytesSent = last.BytesSent,
                DowntimeMs = last.DowntimeMs,
                StartedAt = Timestamp.FromDateTimeOffset(last.StartedAt),
                FinishedAt = last.FinishedAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
                Error = last.Error,
            };
        }

        if (j.Checkpoint is { } cp)
        {
            job.Checkpoint = new Contracts.V1.StoredCheckpoint { Id = cp.Id, Attempt = cp.Attempt, Bytes = cp.Bytes, TakenAt = Timestamp.FromDateTimeOffset(cp.TakenAt) };
            job.Checkpoint.Nodes.Add(cp.Nodes);
        }

        job.CheckpointInProgress = j.Checkpointing?.Purpose ?? "";
        foreach (var r in j.Replicas)
        {
            var replica = new JobReplica
            {
                Rank = r.Rank,
                NodeId = r.NodeId,
                Address = r.Address,
                State = r.Phase switch
                {
                    ReplicaPhase.Assigned => JobReplicaState.Assigned,
                    ReplicaPhase.Running => JobReplicaState.Running,
                    ReplicaPhase.Exited => JobReplicaState.Exited,
                    _ => JobReplicaState.Lost,
                },
            };
            replica.GpuUuids.Add(r.GpuUuids);
            replica.GpuIndices.Add(r.GpuShares.Select(g => g.Index));
            if (r.ExitCode is { } exit)
            {
                replica.ExitCode = exit;
            }

            job.Replicas.Add(replica);
        }

        return job;
    }

    public static Node ToProto(NodeEntry entry)
    {
        var state = entry.State;
        var node = new Node
        {
            Id = entry.Id,
            Hostname = entry.Record.Hostname,
            Health = state.Health switch
            {
                NodeHealth.Ready => Contracts.V1.NodeHealth.Ready,
                NodeHealth.Suspect => Contracts.V1.NodeHealth.Suspect,
                NodeHealth.Leaving => Contracts.V1.NodeHealth.Leaving,
                _ => Contracts.V1.NodeHealth.Dead,
            },
            Cordoned = state.Cordoned,
            Draining = state.Draining,
            Capacity = new Contracts.V1.Resources { CpuMillis = state.CpuCapacity, MemoryMib = state.MemoryCapacity, Gpus = state.Gpus.Count },
            Free = new Contracts.V1.Resources { CpuMillis = state.CpuFree, MemoryMib = state.MemoryFree, Gpus = state.IdleGpuCount },
            WorkerVersion = entry.Record.WorkerVersion,
            TransferAddress = entry.Record.TransferAddress,
        };
        node.Capabilities.Add(entry.Record.Capabilities);
        foreach (var (key, value) in entry.Record.Labels)
        {
            node.Labels[key] = value;
        }
        // Arrays, not lazy sequences: a repeated field grows one element at a time from those (a tenth of
        // the loop when every report republished a busy node).
        var jobIds = state.Allocations.Keys.ToArray();
        Array.Sort(jobIds, StringComparer.Ordinal);
        node.JobIds.Add(jobIds);
        if (entry.LastHeartbeatAt is { } at)
        {
            node.LastHeartbeat = Timestamp.FromDateTimeOffset(at);
        }

        var infos = entry.GpuInfos(state.Gpus);
        for (var i = 0; i < state.Gpus.Count; i++)
        {
            var gpu = state.Gpus[i];
            var status = new GpuStatus
            {
                Info = infos[i],
                FreeMilli = state.GpuFreeMilli[i],
            };
            foreach (var allocation in state.Allocations.Values)
            {
                var shares = allocation.Gpus;
                for (var s = 0; s < shares.Count; s++)
                {
                    if (shares[s].Index == i)
                    {
                        status.JobIds.Add(allocation.JobId);
                        break;
                    }
                }
            }

            var reported = entry.LastHeartbeat?.Gpus;
            for (var t = 0; t < (reported?.Count ?? 0); t++)
            {
                // By index: a repeated field's enumerator is an allocated iterator (1.6% of the master's allocations).
                if (reported![t].Index == gpu.Index)
                {
                    status.Telemetry = reported[t];
                    break;
                }
            }

            node.Gpus.Add(status);
        }

        return node;
    }

    public static NodeRecord ToRecord(RegisterWorker r, NodeRecord? previous) => new(
        r.NodeId,
        r.Hostname,
        r.Capacity?.CpuMillis ?? 0,
        r.Capacity?.MemoryMib ?? 0,
        r.Gpus.OrderBy(g => g.Index).Select((g, i) => new GpuDevice(i, g.Uuid, g.Model, g.MemoryMib) { Topology = ToTopology(g) }).ToArray(),
        new Dictionary<string, string>(r.Labels, StringComparer.Ordinal),
        previous?.Cordoned ?? false,
        previous?.Draining ?? false,
        r.WorkerVersion,
        r.TransferAddress)
    {
        Capabilities = r.Capabilities.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray(),
    };

    /// <summary>A GPU as the wire shows it, topology included.</summary>
    public static GpuInfo ToInfo(GpuDevice gpu)
    {
        var t = gpu.Topology;
        var info = new GpuInfo
        {
            Index = gpu.Index,
            Uuid = gpu.Uuid,
            Model = gpu.Model,
            MemoryMib = gpu.MemoryMib,
            NvlinkIsland = t.NvLinkIsland,
            PcieSwitch = t.PcieSwitch,
            NumaNode = t.NumaNode,
        };
        for (var peer = 0; peer < 64; peer++)
        {
            if ((t.NvLinkPeers & (1UL << peer)) != 0)
            {
                info.NvlinkPeers.Add(peer);
            }
        }

        return info;
    }

    /// <summary>
    /// The topology a worker reported for one GPU. Group ids below 0 read as unknown; peers beyond the 64
    /// GPUs a mask holds are left out of the display (placement reads only the groups).
    /// </summary>
    public static GpuTopology ToTopology(GpuInfo g)
    {
        var peers = 0UL;
        foreach (var peer in g.NvlinkPeers)
        {
            if (peer is >= 0 and < 64 && peer != g.Index)
            {
                peers |= 1UL << peer;
            }
        }

        return new GpuTopology(Math.Max(0, g.NvlinkIsland), Math.Max(0, g.PcieSwitch), Math.Max(0, g.NumaNode), peers);
    }

    /// <summary>True when two records describe the same placement shape (capacity, GPUs, labels).</summary>
    public static bool SameShape(NodeRecord a, NodeRecord b) =>
        a.CpuMillis == b.CpuMillis
        && a.MemoryMib == b.MemoryMib
        && a.Gpus.SequenceEqual(b.Gpus)
        && a.Labels.Count == b.Labels.Count
        && a.Labels.All(kv => b.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public static NodeState ToState(NodeRecord record) =>
        new(record.Id, record.CpuMillis, record.MemoryMib, record.Gpus, record.Labels)
        {
            Cordoned = record.Cordoned,
            Draining = record.Draining,
        };
}
