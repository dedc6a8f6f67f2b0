using System.Diagnostics.Metrics;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Telemetry;

/// <summary>
/// Observable instruments on the master's meter, read at scrape time from the view the loop last
/// published (<see cref="MasterView"/>, immutable) — never from the loop's own state. What the jobs
/// add up to is counted once per view, however many instruments a scrape reads.
/// </summary>
internal sealed class ClusterGauges
{
    private static readonly string[] NodeStates = ["ready", "cordoned", "draining", "suspect", "dead", "leaving"];
    private readonly MasterRole _role;
    private JobCounts? _counts;

    public ClusterGauges(MasterMetrics metrics, MasterRole role)
    {
        _role = role;
        var meter = metrics.Meter;
        meter.CreateObservableGauge<long>("scheduler.queue.depth", () => Counts()?.Queue ?? [], "{job}", "Pending jobs by priority and tenant");
        meter.CreateObservableGauge<long>("scheduler.queue.pending_reasons", () => Counts()?.Reasons ?? [], "{job}", "Pending jobs by the kind of obstacle their pending reason names");
        meter.CreateObservableGauge<long>("scheduler.jobs", () => Counts()?.States ?? [], "{job}", "Jobs by state");
        meter.CreateObservableGauge<long>("scheduler.migrations.active", () => Counts() is { } c ? [new Measurement<long>(c.Migrating)] : [], "{migration}", "Live migrations under way");
        meter.CreateObservableGauge<long>("scheduler.inbox.depth", () => _role.Loop is { } loop ? [new Measurement<long>(loop.InboxDepth)] : [], "{event}", "Events waiting in the scheduling loop's inbox");
        meter.CreateObservableGauge("scheduler.leader", () => new Measurement<long>(_role.Loop is null ? 0 : 1), "1", "1 while this master leads, else 0");
        meter.CreateObservableGauge<long>("scheduler.leader.epoch", () => View() is { } v ? [new Measurement<long>(v.Epoch)] : [], "{term}", "Epoch of the term this master leads");
        meter.CreateObservableGauge("scheduler.nodes", NodesByState, "{node}", "Nodes by state (ready, cordoned, draining, suspect, dead, leaving)");
        meter.CreateObservableGauge("scheduler.gpu.allocated", () => Gpus(g => (1000 - g.FreeMilli) / 1000.0), "1", "Share of each GPU allocated to jobs (0..1)");
        meter.CreateObservableGauge("scheduler.gpu.utilization", () => Telemetry(t => t.UtilizationPercent / 100.0), "1", "GPU utilisation from the last heartbeat (0..1)");
        meter.CreateObservableGauge("scheduler.gpu.memory.used", () => Telemetry(t => t.MemoryUsedMib * 1024L * 1024), "By", "GPU memory used, from the last heartbeat");
        meter.CreateObservableGauge("scheduler.gpu.memory.total", () => Telemetry(t => t.MemoryTotalMib * 1024L * 1024), "By", "GPU memory in total, from the last heartbeat");
        meter.CreateObservableGauge("scheduler.gpu.temperature", () => Telemetry(t => (double)t.TemperatureC), "Cel", "GPU core temperature, from the last heartbeat");
        meter.CreateObservableGauge("scheduler.gpu.power", () => Telemetry(t => t.PowerMw / 1000.0), "W", "GPU power draw, from the last heartbeat");
        meter.CreateObservableGauge("scheduler.gpu.ecc.errors", () => Telemetry(t => (long)t.EccErrors), "{error}", "Volatile uncorrected ECC errors since the driver loaded, from the last heartbeat");
    }

    internal static string StateOf(Node node) => node.Health switch
    {
        NodeHealth.Ready when node.Draining => "draining",
        NodeHealth.Ready when node.Cordoned => "cordoned",
        NodeHealth.Ready => "ready",
        NodeHealth.Suspect => "suspect",
        NodeHealth.Dead => "dead",
        NodeHealth.Leaving => "leaving",
        _ => "unknown",
    };

    private MasterView? View() => _role.Loop?.View;

    private IEnumerable<Measurement<long>> NodesByState()
    {
        if (View() is not { } view)
        {
            yield break;
        }

        // Every state, zeros too: a panel shows "0 dead", not a gap.
        var counts = NodeStates.ToDictionary(s => s, _ => 0L, StringComparer.Ordinal);
        foreach (var node in view.Nodes.Values)
        {
            var state = StateOf(node);
            counts[state] = counts.GetValueOrDefault(state) + 1;
        }

        foreach (var (state, count) in counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("state", state));
        }
    }

    private IEnumerable<Measurement<T>> Gpus<T>(Func<GpuStatus, T> read)
        where T : struct
    {
        if (View() is not { } view)
        {
            yield break;
        }

        foreach (var node in view.Nodes.Values)
        {
            foreach (var gpu in node.Gpus)
            {
                yield return new Measurement<T>(read(gpu), GpuTags(node.Id, gpu.Info.Uuid, gpu.Info.Model));
            }
        }
    }

    private IEnumerable<Measurement<T>> Telemetry<T>(Func<GpuTelemetry, T> read)
        where T : struct
    {
        if (View() is not { } view)
        {
            yield break;
        }

        foreach (var node in view.Nodes.Values)
        {
            if (node.Health is NodeHealth.Dead)
            {
                // Its last readings are history, not the state of a GPU.
                continue;
            }

            foreach (var gpu in node.Gpus)
            {
                if (gpu.Telemetry is { } telemetry)
                {
                    yield return new Measurement<T>(read(telemetry), GpuTags(node.Id, gpu.Info.Uuid, gpu.Info.Model));
                }
            }
        }
    }

    private static KeyValuePair<string, object?>[] GpuTags(string node, string uuid, string model) =>
        [new("node", node), new("gpu", uuid), new("model", model)];

    private JobCounts? Counts()
    {
        if (View() is not { } view)
        {
            return null;
        }

        var counts = Volatile.Read(ref _counts);
        if (counts is null || !ReferenceEquals(counts.View, view))
        {
            counts = JobCounts.Of(view);
            Volatile.Write(ref _counts, counts);
        }

        return counts;
    }

    /// <summary>What one view's jobs add up to.</summary>
    private sealed record JobCounts(MasterView View, Measurement<long>[] Queue, Measurement<long>[] Reasons, Measurement<long>[] States, long Migrating)
    {
        public static JobCounts Of(MasterView view)
        {
            var queue = new Dictionary<(int Priority, string Tenant), long>();
            var reasons = PendingReasons.All.ToDictionary(r => r, _ => 0L, StringComparer.Ordinal);
            var states = new Dictionary<JobState, long>();
            long migrating = 0;
            foreach (var job in view.Jobs.Values)
            {
                states[job.State] = states.GetValueOrDefault(job.State) + 1;
                if (job.Migration is not null)
                {
                    migrating++;
                }

                if (job.State == JobState.Pending)
                {
                    var key = (job.Priority, job.Spec.Tenant.Length == 0 ? "default" : job.Spec.Tenant);
                    queue[key] = queue.GetValueOrDefault(key) + 1;
                    var reason = PendingReasons.Category(job.PendingReason);
                    reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
                }
            }

            return new JobCounts(
                view,
                [.. queue.Select(kv => new Measurement<long>(kv.Value,
                    new KeyValuePair<string, object?>("priority", kv.Key.Priority), new KeyValuePair<string, object?>("tenant", kv.Key.Tenant)))],
                [.. reasons.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("reason", kv.Key)))],
                [.. states.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key.ToString().ToLowerInvariant())))],
                migrating);
        }
    }
}
