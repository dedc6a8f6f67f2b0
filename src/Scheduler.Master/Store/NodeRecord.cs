using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>
/// What the master remembers of a node across restarts: its shape and the operator's cordon. Two
/// records are equal when everything stored is (GPUs, labels and capabilities by content, not by
/// reference), so a worker that registers again unchanged costs no store write.
/// </summary>
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

    /// <summary>Equal when every stored field is: the lists element by element, the labels as sets of pairs.</summary>
    public bool Equals(NodeRecord? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (Id == other.Id
                && Hostname == other.Hostname
                && CpuMillis == other.CpuMillis
                && MemoryMib == other.MemoryMib
                && Cordoned == other.Cordoned
                && Draining == other.Draining
                && WorkerVersion == other.WorkerVersion
                && TransferAddress == other.TransferAddress
                && Gpus.SequenceEqual(other.Gpus)
                && Capabilities.SequenceEqual(other.Capabilities, StringComparer.Ordinal)
                && SameLabels(Labels, other.Labels)));

    /// <summary>From the scalar fields and the GPU count: consistent with <see cref="Equals(NodeRecord?)"/>.</summary>
    public override int GetHashCode() => HashCode.Combine(Id, Hostname, CpuMillis, MemoryMib, Cordoned, Draining, Gpus.Count, Labels.Count);

    private static bool SameLabels(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && string.Equals(v, kv.Value, StringComparison.Ordinal));
}
