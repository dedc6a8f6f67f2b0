using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;

namespace Scheduler.Core.Benchmarks;

/// <summary>
/// The quick mode of <c>./build.sh bench core</c>: Stopwatch loops, a few seconds per case, a table
/// and one closing JSON line. BenchmarkDotNet (<c>--bdn</c>) gives the careful figures; these are
/// for a quick look and for before/after comparisons on the same machine.
/// </summary>
internal static class QuickRun
{
    public static int Run(QuickOptions options)
    {
        Console.WriteLine(Machine());
        if (options.Gangs > 0)
        {
            return Gangs(options);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cluster: 8-GPU nodes (trace models), jobs drawn from openb_pod_list_default.csv; placement call: {options.Decisions} decisions (at most {options.Seconds} s) on a loaded cluster with churn, after {options.Learned} jobs learned; pass: {options.Pending} pending jobs on an empty cluster; index path: {(options.Trees ? "per-shape score trees" : "class scan (--no-trees)")}; fragmentation-aware policies {(options.Learn ? "learn the task distribution online, as the master does" : "score against the trace's task distribution, as schedctl sim does")}"));
        Console.WriteLine("policy          nodes  call/s (array)  B/call  call/s (index)  B/call   pass jobs/s  placed   pass s  pass MB  index call/CPU s  pass jobs/CPU s");

        var scenario = new CoreScenario(options.DataDir, options.Learn);
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var nodes in options.NodeCounts)
        {
            foreach (var policy in options.Policies)
            {
                var array = options.Array ? Calls(scenario, policy, nodes, options, indexed: false) : (PerSecond: double.NaN, Bytes: double.NaN, PerCpuSecond: double.NaN);
                var index = options.Indexed ? Calls(scenario, policy, nodes, options, indexed: true) : (PerSecond: double.NaN, Bytes: double.NaN, PerCpuSecond: double.NaN);
                var pass = options.Pending > 0 ? Pass(scenario, policy, nodes, options.Pending, options.Trees) : default;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{policy,-14} {nodes,6} {array.PerSecond,15:F0} {array.Bytes,7:F0} {index.PerSecond,15:F0} {index.Bytes,7:F0} {pass.JobsPerSecond,13:F0} {pass.Placed,7} {pass.Seconds,8:F2} {pass.Bytes / 1e6,8:F0} {index.PerCpuSecond,17:F0} {pass.JobsPerCpuSecond,16:F0}"));
                if (policy == PlacementPolicies.Default)
                {
                    var suffix = nodes % 1000 == 0 ? $"{nodes / 1000}k" : nodes.ToString(CultureInfo.InvariantCulture);
                    var best = double.IsNaN(index.PerSecond) ? array : index;
                    if (!double.IsNaN(best.PerSecond))
                    {
                        figures[$"decisions_per_s_{suffix}"] = Math.Round(best.PerSecond);
                        figures[$"bytes_per_decision_{suffix}"] = Math.Round(best.Bytes);
                        figures[$"decisions_per_cpu_s_{suffix}"] = Math.Round(best.PerCpuSecond);
                    }

                    if (options.Array)
                    {
                        figures[$"decisions_per_s_array_{suffix}"] = Math.Round(array.PerSecond);
                    }
                    if (options.Pending > 0)
                    {
                        figures[$"pass_jobs_per_s_{suffix}"] = Math.Round(pass.JobsPerSecond);
                        figures[$"pass_jobs_per_cpu_s_{suffix}"] = Math.Round(pass.JobsPerCpuSecond);
                    }
                }
            }
        }

        figures["pending"] = options.Pending;
        Console.WriteLine(JsonSerializer.Serialize(figures));
        return 0;
    }

    private static (double PerSecond, double Bytes, double PerCpuSecond) Calls(CoreScenario scenario, string policy, int count, QuickOptions options, bool indexed)
    {
        var nodes = scenario.Nodes(count);
        var live = scenario.Fill(nodes, seed: 7);
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var placement = scenario.MasterPolicy(policy);
        if (placement is ICacheableScores learner && options.Learn)
        {
            // What a master that ran a while has seen: a learning policy's typical tasks have settled.
            foreach (var demand in scenario.Demands(options.Learned, seed: 5, prefix: "learned"))
            {
                learner.Prepare(demand);
            }
        }

        var engine = new PlacementEngine(placement) { ScoreTrees = options.Trees };
        var index = indexed ? new PlacementIndex(nodes) : null;
        var stream = scenario.Demands(options.Decisions + options.Warmup, seed: 11, prefix: "call");
        var random = new Random(13);
        long ticks = 0;
        long bytes = 0;
        double cpu = 0;
        var done = 0;
        var budget = long.MaxValue;
        for (var k = 0; k < stream.Length; k++)
        {
            var timed = k >= options.Warmup;
            if (k == options.Warmup)
            {
                budget = Stopwatch.GetTimestamp() + (long)(options.Seconds * Stopwatch.Frequency);

                // CPU time is read once around the timed loop (the thread clock is a system call here,
                // too slow to read per call), so it also counts the loop's churn: a slight overstatement.
                cpu = -ThreadCpu.Seconds();
            }
            else if (timed && Stopwatch.GetTimestamp() > budget)
            {
                break;
            }

            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var started = Stopwatch.GetTimestamp();
            var allocation = index is null ? engine.FindAllocation(stream[k], nodes) : engine.FindAllocation(stream[k], index);
            var elapsed = Stopwatch.GetTimestamp() - started;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            if (timed)
            {
                ticks += elapsed;
                bytes += allocated;
                done++;
            }

            // Steady state: what is placed stays, and one running job ends per decision.
            if (allocation is not null)
            {
                byId[allocation.NodeId].Allocate(allocation);
                live.Add(allocation);
            }

            if (live.Count > 0)
            {
                var i = random.Next(live.Count);
                var ended = live[i];
                live[i] = live[^1];
                live.RemoveAt(live.Count - 1);
                byId[ended.NodeId].Release(ended.JobId);
            }
        }

        cpu += ThreadCpu.Seconds();
        return (done / (ticks / (double)Stopwatch.Frequency), bytes / (double)Math.Max(1, done), done / cpu);
    }

    private static (double JobsPerSecond, int Placed, double Seconds, double Bytes, double JobsPerCpuSecond) Pass(CoreScenario scenario, string policy, int count, int pending, bool trees)
    {
        var now = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        // A master's code is warm (its passes run every second): one smaller pass first, untimed, so the
        // timed one runs compiled code rather than the JIT's first tiers.
        scenario.MasterCycle(policy, trees).Run(
            CoreScenario.Queue(scenario.Demands(Math.Min(pending, 5000), seed: 19, prefix: "warm"), now),
            scenario.Nodes(Math.Min(count, 1000)).ToDictionary(n => n.Id, StringComparer.Ordinal),
            now,
            new Dictionary<string, RunningJob>(StringComparer.Ordinal));

        var nodes = scenario.Nodes(count).ToDictionary(n => n.Id, StringComparer.Ordinal);
        var waiting = CoreScenario.Queue(scenario.Demands(pending, seed: 17, prefix: "pending"), now);
        var cycle = scenario.MasterCycle(policy, trees);
        GC.Collect();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var cpuBefore = ThreadCpu.Seconds();
        var started = Stopwatch.GetTimestamp();
        var decisions = cycle.Run(waiting, nodes, now, new Dictionary<string, RunningJob>(StringComparer.Ordinal));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = ThreadCpu.Seconds() - cpuBefore;
        var bytes = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var placed = decisions.Count(d => d.Allocation is not null);
        return (pending / seconds, placed, seconds, bytes, pending / cpu);
    }

    /// <summary>
    /// Passes with <see cref="QuickOptions.Gangs"/> waiting gangs that do not fit on a loaded cluster: each gang
    /// asks one more whole-node replica than there are idle nodes, and each has its own CPU request, so no two
    /// share a replica shape (the worst case: a shape's shortfall answers only its own gang). The first pass
    /// probes every gang; a second with nothing changed probes none; a third after one node is freed probes
    /// them all again.
    /// </summary>
    private static int Gangs(QuickOptions options)
    {
        Console.WriteLine("policy          nodes  gangs  replicas  pass 1 ms  probed  pass 2 ms  probed  pass 3 ms  probed");
        var scenario = new CoreScenario(options.DataDir, options.Learn);
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        var now = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var count in options.NodeCounts)
        {
            foreach (var policy in options.Policies)
            {
                var array = scenario.Nodes(count);
                var live = scenario.Fill(array, seed: 7);
                var nodes = array.ToDictionary(n => n.Id, StringComparer.Ordinal);
                var idle = array.Count(n => n.IdleGpuCount == n.Gpus.Count && n.Gpus.Count > 0);
                var size = idle + 1;
                var waiting = new List<QueuedJob>(options.Gangs * size);
                for (var g = 0; g < options.Gangs; g++)
                {
                    var replica = JobDemand.Of($"gang{g}", new Core.Resources.ResourceRequest(1000 + g, 1024, CoreScenario.GpusPerNode));
                    waiting.AddRange(GangJobs.Expand(new QueuedJob(replica, 0, now, g), size));
                }

                var cycle = scenario.MasterCycle(policy);
                var running = new Dictionary<string, RunningJob>(StringComparer.Ordinal);
                var (first, probed1) = TimePass(cycle, waiting, nodes, now, running);
                var (second, probed2) = TimePass(cycle, waiting, nodes, now.AddSeconds(1), running);
                var freed = live.First(a => nodes[a.NodeId].Allocations.Count > 1);
                nodes[freed.NodeId].Release(freed.JobId);
                var (third, probed3) = TimePass(cycle, waiting, nodes, now.AddSeconds(2), running);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{policy,-14} {count,6} {options.Gangs,6} {size,9} {first * 1000,10:F1} {probed1,7} {second * 1000,10:F1} {probed2,7} {third * 1000,10:F1} {probed3,7}"));
                if (policy == PlacementPolicies.Default)
                {
                    figures[$"gang_pass_ms_{count}"] = Math.Round(first * 1000, 1);
                    figures[$"gang_pass_unchanged_ms_{count}"] = Math.Round(second * 1000, 1);
                }
            }
        }

        figures["gangs"] = options.Gangs;
        Console.WriteLine(JsonSerializer.Serialize(figures));
        return 0;
    }

    private static (double Seconds, int Probed) TimePass(SchedulingCycle cycle, List<QueuedJob> waiting, Dictionary<string, NodeState> nodes, DateTimeOffset now, Dictionary<string, RunningJob> running)
    {
        var started = Stopwatch.GetTimestamp();
        var decisions = cycle.Run(waiting, nodes, now, running);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (decisions.Any(d => d.Allocation is not null))
        {
            throw new InvalidOperationException("a benchmark gang was placed: the cluster is not loaded enough");
        }

        return (seconds, cycle.GangsProbed);
    }

    public static string Machine()
    {
        var cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"machine: {Environment.ProcessorCount} cores, {cpu}, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; figures on a shared machine are noisy lower bounds");
    }
}
