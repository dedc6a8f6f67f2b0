using System.Globalization;
using Scheduler.Core.Affinity;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;
using Scheduler.Simulation;

namespace Scheduler.Core.Benchmarks;

/// <summary>
/// The cluster and queue of issue 11: N nodes of 8 GPUs each (CPU, memory and GPU model taken in
/// turn from the trace's node list) and pending jobs drawn with replacement from a trace task list.
/// Placement is built as the master builds it: the named policy learning its task distribution
/// online, wrapped in <see cref="AffinityPlacementPolicy"/>.
/// </summary>
internal sealed class CoreScenario
{
    public const string DefaultDataDir = "../shared/data/alibaba-gpu-v2023";
    public const int GpusPerNode = 8;

    /// <summary>Set to an absolute path for BenchmarkDotNet's child processes, which run elsewhere.</summary>
    public const string DataDirVariable = "SCHEDULER_BENCH_DATA";
    private static readonly IReadOnlyCollection<string> NoKeys = [];

    private readonly IReadOnlyList<TraceNode> _traceNodes;
    private readonly IReadOnlyList<TraceTask> _traceTasks;

    public CoreScenario(string dataDir, bool learn = true)
    {
        _traceNodes = TraceReader.ReadNodes(Path.Combine(dataDir, "openb_node_list_gpu_node.csv"));
        _traceTasks = TraceReader.ReadTasks(Path.Combine(dataDir, "openb_pod_list_default.csv"));
        Workload = learn ? null : new Workload(_traceTasks).Distribution;
    }

    public static string DataDir => Environment.GetEnvironmentVariable(DataDirVariable) is { Length: > 0 } dir ? dir : DefaultDataDir;

    /// <summary>The task distribution fragmentation-aware policies score against; null: learned online, as in the master.</summary>
    public TaskDistribution? Workload { get; }

    public NodeState[] Nodes(int count)
    {
        var nodes = new NodeState[count];
        for (var n = 0; n < count; n++)
        {
            var row = _traceNodes[n % _traceNodes.Count];
            var name = string.Create(CultureInfo.InvariantCulture, $"node-{n:D5}");
            var gpus = new GpuDevice[GpusPerNode];
            for (var g = 0; g < gpus.Length; g++)
            {
                gpus[g] = new GpuDevice(g, string.Create(CultureInfo.InvariantCulture, $"{name}-gpu{g}"), row.GpuModel, 0);
            }

            nodes[n] = new NodeState(name, row.CpuMillis, row.MemoryMib, gpus);
        }

        return nodes;
    }

    /// <summary><paramref name="count"/> demands shaped like the trace's tasks, each with its own id.</summary>
    public JobDemand[] Demands(int count, int seed, string prefix = "job")
    {
        var random = new Random(seed);
        var demands = new JobDemand[count];
        for (var k = 0; k < count; k++)
        {
            var t = _traceTasks[random.Next(_traceTasks.Count)];
            var request = t.SharesGpu
                ? new ResourceRequest(t.CpuMillis, t.MemoryMib, 0, t.GpuMilli)
                : new ResourceRequest(t.CpuMillis, t.MemoryMib, t.GpuCount);
            demands[k] = new JobDemand(string.Create(CultureInfo.InvariantCulture, $"{prefix}-{k:D6}"), request, t.GpuModels, new Dictionary<string, string>());
        }

        return demands;
    }

    public static QueuedJob[] Queue(JobDemand[] demands, DateTimeOffset now)
    {
        var jobs = new QueuedJob[demands.Length];
        for (var k = 0; k < demands.Length; k++)
        {
            jobs[k] = new QueuedJob(demands[k], Priority: 0, now.AddSeconds(-1), Sequence: k);
        }

        return jobs;
    }

    /// <summary>The policy as the master builds it: learning online, wrapped for cache affinity (no job has keys here).</summary>
    public IPlacementPolicy MasterPolicy(string name) =>
        new AffinityPlacementPolicy(PlacementPolicies.Create(name, 42, Workload), _ => NoKeys, _ => null);

    /// <summary>The scheduling cycle as the master builds it with its default options (<paramref name="trees"/> false: classes scanned, as before the score trees).</summary>
    public SchedulingCycle MasterCycle(string policy, bool trees = true) =>
        new(QueuePolicies.Create(QueuePolicies.Default), new PlacementEngine(MasterPolicy(policy)) { ScoreTrees = trees }, new SchedulingCycleOptions
        {
            Backfill = true,
            Preemption = new Preemption.PreemptionOptions { MinPreemptorPriority = 500, ProtectedFromPriority = 900 },
        });

    /// <summary>
    /// Loads the nodes to a steady state without a placement search: each node in turn takes trace
    /// jobs (first GPUs that fit) until it reaches a random share of its GPUs; a fifth stay idle.
    /// Returns what was allocated, so a churn loop can release it.
    /// </summary>
    public List<Allocation> Fill(NodeState[] nodes, int seed)
    {
        var random = new Random(seed);
        var allocations = new List<Allocation>();
        var filler = Demands(nodes.Length * 12, seed + 1, "fill");
        var next = 0;
        foreach (var node in nodes)
        {
            if (random.NextDouble() < 0.2)
            {
                continue;
            }

            var target = random.NextDouble() * node.GpuCapacityMilli;
            for (var tries = 0; tries < 12 && node.GpuCapacityMilli - node.GpuFreeMilliTotal < target; tries++)
            {
                var demand = filler[next++ % filler.Length];
                if (FirstFit(node, demand) is { } allocation)
                {
                    node.Allocate(allocation);
                    allocations.Add(allocation);
                }
            }
        }

        return allocations;
    }

    private static Allocation? FirstFit(NodeState node, JobDemand demand)
    {
        var r = demand.Resources;
        if (r.CpuMillis > node.CpuFree || r.MemoryMib > node.MemoryFree)
        {
            return null;
        }

        var free = node.GpuFreeMilli;
        var shares = new List<GpuShare>();
        for (var i = 0; i < free.Length && shares.Count < Math.Max(r.Gpus, r.IsSharedGpu ? 1 : 0); i++)
        {
            if (!node.GpuModelAllowed(i, demand.GpuModels))
            {
                continue;
            }

            if (r.IsSharedGpu ? free[i] >= r.GpuMilli : free[i] == ResourceLimits.MilliPerGpu)
            {
                shares.Add(new GpuShare(i, r.IsSharedGpu ? r.GpuMilli : ResourceLimits.MilliPerGpu));
            }
        }

        var wanted = r.IsSharedGpu ? 1 : r.Gpus;
        return shares.Count == wanted ? new Allocation(demand.JobId, node.Id, r, [.. shares]) : null;
    }
}
