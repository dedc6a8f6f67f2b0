using System.Text.Json;
using Google.Protobuf;
using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>Jobs and nodes with every field set, and a way to compare them field by field.</summary>
internal static class StoreRecords
{
    private static readonly DateTimeOffset Epoch = new(2026, 11, 24, 9, 30, 15, 123, TimeSpan.FromHours(1));
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static JobSpec Spec(string name) => new()
    {
        Name = name,
        Command = "/bin/train",
        Args = { "--epochs", "3" },
        Env = { ["SEED"] = "7" },
        Resources = new Resources { CpuMillis = 1500, MemoryMib = 2048, Gpus = 2 },
        Priority = 250,
        GpuModels = { "H100" },
        NodeSelector = { ["zone"] = "a" },
        MaxRetries = 5,
        Tenant = "vision",
        AffinityKeys = { "llama-7b" },
    };

    /// <summary>A pending job; <paramref name="sequence"/> also makes its id and request id.</summary>
    public static JobRecord Pending(long sequence) => new()
    {
        Id = $"j-{sequence:D6}",
        Sequence = sequence,
        RequestId = $"req-{sequence}",
        Spec = Spec($"job {sequence}"),
        State = JobState.Pending,
        CreatedAt = Epoch.AddSeconds(sequence),
        UpdatedAt = Epoch.AddSeconds(sequence),
    };

    /// <summary>A job that ran twice, was lost once and now runs again: every optional field set.</summary>
    public static JobRecord Running(long sequence) => Pending(sequence) with
    {
        State = JobState.Running,
        Attempt = 3,
        NodeId = "node-b",
        GpuShares = [new GpuShare(0, 1000), new GpuShare(3, 250)],
        GpuUuids = ["GPU-aaa", "GPU-bbb"],
        ExitCode = 137,
        Message = "lost with node-a",
        Requeues = 2,
        AttemptNodes = ["node-a", "", "node-b"],
        RequeueOnExit = true,
        LostAttempt = 2,
        LostAttemptUncounted = true,
        HoldsAllocation = true,
        UpdatedAt = Epoch.AddMinutes(5),
        StartedAt = Epoch.AddMinutes(4),
        FinishedAt = Epoch.AddMinutes(6),
    };

    public static NodeRecord Node(string id, bool cordoned = false) => new(
        id,
        id + ".example",
        64_000,
        512 * 1024,
        [new GpuDevice(0, "GPU-" + id + "-0", "H100", 81_559), new GpuDevice(1, "GPU-" + id + "-1", "H100", 81_559)],
        new Dictionary<string, string> { ["zone"] = "a", ["rack"] = "r7" },
        cordoned,
        Draining: false,
        "1.4.0",
        "http://127.0.0.1:7070")
    {
        Capabilities = ["cgroup.cpu", "keeper"],
    };

    /// <summary>
    /// Everything a store keeps of a job, as text, so records compare field by field (lists
    /// included). The pending reason is not kept by design: the loop recomputes it.
    /// </summary>
    public static string Describe(JobRecord job) =>
        $"{job.Id} seq={job.Sequence} req={job.RequestId} spec={Convert.ToBase64String(job.Spec.ToByteArray())} " +
        JsonSerializer.Serialize(JobStatusRow.From(job) with { AttemptNodes = job.AttemptNodes }, Json);

    public static string Describe(NodeRecord node) => JsonSerializer.Serialize(node, Json);

    public static IEnumerable<string> Describe(IEnumerable<JobRecord> jobs) => jobs.Select(Describe);

    public static IEnumerable<string> Describe(IEnumerable<NodeRecord> nodes) => nodes.Select(Describe);
}
