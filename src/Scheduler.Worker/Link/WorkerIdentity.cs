namespace Scheduler.Worker.Link;

/// <summary>What a worker tells the master about itself at registration, besides GPUs and agents.</summary>
internal sealed record WorkerIdentity(
    string NodeId,
    string DataDir,
    long CpuMillis,
    long MemoryMib,
    IReadOnlyDictionary<string, string> Labels);
