using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using Scheduler.Core.Resources;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Scheduling;

/// <summary>The loop's mutable bookkeeping for one node: placement state, its stream, its last signs of life.</summary>
internal sealed class NodeEntry
{
    private Heartbeat? _lastHeartbeat;

    public NodeEntry(NodeRecord record, NodeState state, DateTimeOffset lastSeen)
    {
        Record = record;
        State = state;
        LastSeen = lastSeen;
    }

    public string Id => Record.Id;

    public NodeRecord Record { get; set; }

    public NodeState State { get; set; }

    public WorkerSession? Session { get; set; }

    public DateTimeOffset LastSeen { get; set; }

    /// <summary>
    /// The later of <see cref="LastSeen"/> (what the loop has handled) and the moment its stream last
    /// heard from the worker (what arrived, even if still queued for the loop): silence is judged from this.
    /// </summary>
    public DateTimeOffset LastHeard => Session?.LastHeard is { } heard && heard > LastSeen ? heard : LastSeen;

    public DateTimeOffset? LastHeartbeatAt { get; set; }

    public Heartbeat? LastHeartbeat
    {
        get => _lastHeartbeat;
        set
        {
            _lastHeartbeat = value;
            CachedKeys = value is { CachedKeys.Count: > 0 } h ? h.CachedKeys.ToHashSet(StringComparer.Ordinal) : null;
        }
    }

    /// <summary>Model/dataset keys the worker reported cached, for affinity; null when none.</summary>
    public IReadOnlySet<string>? CachedKeys { get; private set; }

    private (IReadOnlyList<GpuDevice> Gpus, GpuInfo[] Infos)? _gpuInfos;

    /// <summary>
    /// The published description of each of <paramref name="gpus"/>, made once per GPU list (it changes only
    /// when the host does) and shared by every published version of the node, which no reader changes.
    /// </summary>
    public GpuInfo[] GpuInfos(IReadOnlyList<GpuDevice> gpus)
    {
        if (_gpuInfos is not { } known || !ReferenceEquals(known.Gpus, gpus))
        {
            known = (gpus, gpus.Select(ProtoMapping.ToInfo).ToArray());
            _gpuInfos = known;
        }

        return known.Infos;
    }
}
