using System.Text.Json.Serialization;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>Where one replica of a gang job's attempt stands. Stored by number: add new values at the end only.</summary>
internal enum ReplicaPhase
{
    /// <summary>Placed; its worker was told to start it.</summary>
    Assigned,

    /// <summary>Its agent runs.</summary>
    Running,

    /// <summary>Its agent exited (by itself or stopped with its gang).</summary>
    Exited,

    /// <summary>Its agent was lost with its node or worker, or fenced.</summary>
    Lost,
}

/// <summary>
/// One replica of a gang job's current (or last) attempt: where it was placed, the address its peers
/// reach it on, and how far it got. It holds its allocation (id <c>GangMembers.AgentId</c>) on
/// <see cref="NodeId"/> exactly while its agent may run.
/// </summary>
internal sealed record ReplicaRecord(int Rank, string NodeId, IReadOnlyList<GpuShare> GpuShares, IReadOnlyList<string> GpuUuids, string Address)
{
    public ReplicaPhase Phase { get; init; }

    public int? ExitCode { get; init; }

    /// <summary>
    /// True when the master told it to stop (its gang broke, was cancelled or drained, or it was given up with its
    /// node and then found running): its exit, even one reported after it was lost, then says nothing of whether
    /// it finished its work.
    /// </summary>
    public bool Stopped { get; init; }

    [JsonIgnore]
    public bool Holds => Phase is ReplicaPhase.Assigned or ReplicaPhase.Running;
}
