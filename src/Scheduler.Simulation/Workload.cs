using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Simulation;

/// <summary>
/// A task list made ready for replay: each task's demand for the Core engine, its milli-GPU, and
/// the workload's typical-task distribution, computed once and shared by every seed and policy.
/// </summary>
public sealed class Workload
{
    private static readonly Dictionary<string, string> NoSelector = new();

    /// <summary>Prepares <paramref name="tasks"/>.</summary>
    public Workload(IReadOnlyList<TraceTask> tasks)
    {
        Tasks = tasks;
        var demands = new JobDemand[tasks.Count];
        var milli = new long[tasks.Count];
        for (var i = 0; i < tasks.Count; i++)
        {
            var t = tasks[i];
            var request = t.SharesGpu
                ? new ResourceRequest(t.CpuMillis, t.MemoryMib, 0, t.GpuMilli)
                : new ResourceRequest(t.CpuMillis, t.MemoryMib, t.GpuCount);
            demands[i] = new JobDemand(t.Name, request, t.GpuModels, NoSelector);
            milli[i] = t.TotalGpuMilli;
        }

        Demands = demands;
        GpuMilli = milli;
        Distribution = TaskDistribution.FromDemands(demands);
    }

    /// <summary>The tasks as read.</summary>
    public IReadOnlyList<TraceTask> Tasks { get; }

    /// <summary>Each task's demand (its id is the task name; replays give each placement its own id).</summary>
    public IReadOnlyList<JobDemand> Demands { get; }

    /// <summary>Each task's requested milli-GPU.</summary>
    public IReadOnlyList<long> GpuMilli { get; }

    /// <summary>The typical tasks of this workload, against which fragmentation is measured.</summary>
    public TaskDistribution Distribution { get; }
}
