namespace Scheduler.Worker.Link;

/// <summary>What a worker tells the master about itself at registration, besides GPUs and agents; TransferAddress is host:port of its checkpoint transfer service ("" when not serving).</summary>
internal sealed record WorkerIdentity(
    string NodeId,
    string DataDir,
    long CpuMillis,
    long MemoryMib,
    IReadOnlyDictionary<string, string> Labels,
    string TransferAddress = "");
