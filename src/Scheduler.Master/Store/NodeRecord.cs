using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>What the master remembers of a node across restarts: its shape and the operator's cordon.</summary>
internal sealed record NodeRecord(
    string Id,
    string Hostname,
    long CpuMillis,
    long MemoryMib,
    IReadOnlyList<GpuDevice> Gpus,
    IReadOnlyDictionary<string, string> Labels,
    bool Cordoned,
    bool Draining,
    string WorkerVersion,
    string TransferAddress)
{
    /// <summary>What the worker reported it can do (RegisterWorker.capabilities); empty in rows stored before workers reported any.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];
}
