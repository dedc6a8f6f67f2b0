using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Queueing;

/// <summary>Small factories that keep the queue tests readable.</summary>
internal static class Build
{
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static NodeState Node(string id, int cpuCores = 32, int gpus = 0, long memoryMib = 256 * 1024, string model = "A100") =>
        new(id, cpuCores * 1000L, memoryMib,
            Enumerable.Range(0, gpus).Select(i => new GpuDevice(i, $"{id}-gpu{i}", model, 80 * 1024)).ToArray());

    public static Dictionary<string, NodeState> Nodes(params NodeState[] nodes) =>
        nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);

    public static QueuedJob Job(
        string id,
        long seq,
        int priority = 100,
        int cpuCores = 1,
        int gpus = 0,
        int gpuMilli = 0,
        string tenant = "default",
        TimeSpan? runtime = null,
        DateTimeOffset? enqueued = null,
        long memoryMib = 1024) =>
        new(JobDemand.Of(id, new ResourceRequest(cpuCores * 1000L, memoryMib, gpus, gpuMilli)), priority, enqueued ?? T0, seq, tenant)
        {
            RuntimeEstimate = runtime,
        };

    /// <summary>Allocates <paramref name="job"/> on <paramref name="node"/> through the engine and says it runs.</summary>
    public static RunningJob Start(
        NodeState node,
        QueuedJob job,
        DateTimeOffset startedAt,
        bool checkpointable = false)
    {
        var outcome = new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default)).Find(job.Demand, [node]);
        node.Allocate(outcome.Allocation ?? throw new InvalidOperationException($"{job.JobId} does not fit {node.Id}: {outcome.Reason}"));
        return new RunningJob(job.JobId, job.Tenant, job.Priority, startedAt)
        {
            RuntimeEstimate = job.RuntimeEstimate,
            Checkpointable = checkpointable,
        };
    }

    public static SchedulingCycle Cycle(string queuePolicy = QueuePolicyNames.Fifo, SchedulingCycleOptions? options = null) =>
        new(QueuePolicies.Create(queuePolicy), new PlacementEngine(PlacementPolicies.Create(PlacementPolicies.Default)), options ?? new SchedulingCycleOptions());

    public static string[] Ids(IEnumerable<QueuedJob> jobs) => jobs.Select(j => j.JobId).ToArray();
}
