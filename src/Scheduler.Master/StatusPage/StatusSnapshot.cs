using System.Text.Json;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.StatusPage;

/// <summary>
/// The status page's JSON: written from the loop's published <see cref="MasterView"/> and its job feed,
/// both immutable to readers, so a request thread never touches the loop's own state. Lists are bounded
/// so a large history costs the page a scan, not a huge response.
/// </summary>
internal static class StatusSnapshot
{
    private const int MaxQueue = 100;
    private const int MaxRunning = 200;
    private const int MaxEvents = 30;

    public static void Write(Utf8JsonWriter json, MasterRole role, MasterOptions options, string? address, DateTimeOffset now)
    {
        json.WriteStartObject();
        json.WriteString("now", now);
        var loop = role.Loop is { Ready.IsCompletedSuccessfully: true } l ? l : null;
        var view = loop?.View;

        json.WriteStartObject("leader");
        if (view is not null)
        {
            json.WriteBoolean("isLeader", true);
            json.WriteString("masterId", options.MasterId);
            json.WriteString("address", address ?? "");
            json.WriteNumber("epoch", view.Epoch);
            json.WriteString("since", view.LeaderSince);
        }
        else
        {
            var leader = role.Leader;
            json.WriteBoolean("isLeader", false);
            json.WriteString("masterId", leader?.MasterId ?? "");
            json.WriteString("address", leader?.Address ?? "");
            json.WriteNumber("epoch", leader?.Epoch ?? 0);
        }

        json.WriteString("store", role.StoreKind);
        json.WriteString("self", options.MasterId);
        json.WriteEndObject();

        if (view is null)
        {
            json.WriteEndObject();
            return;
        }

        json.WriteNumber("version", view.Version);
        WriteCluster(json, view);
        WriteNodes(json, view);
        WriteJobs(json, view, now);
        WriteEvents(json, loop!.Feed);
        json.WriteEndObject();
    }

    private static void WriteCluster(Utf8JsonWriter json, MasterView view)
    {
        long gpuMilli = 0, gpuFree = 0;
        foreach (var node in view.Nodes.Values.Where(n => n.Health != NodeHealth.Dead))
        {
            gpuMilli += node.Gpus.Count * 1000L;
            gpuFree += node.Gpus.Sum(g => (long)g.FreeMilli);
        }

        json.WriteStartObject("cluster");
        json.WriteNumber("nodesTotal", view.Nodes.Count);
        json.WriteNumber("nodesReady", view.Nodes.Values.Count(n => n.Health == NodeHealth.Ready));
        json.WriteNumber("gpusTotal", gpuMilli / 1000);
        json.WriteNumber("gpuAllocatedPercent", gpuMilli == 0 ? 0 : Math.Round(100.0 * (gpuMilli - gpuFree) / gpuMilli, 1));
        json.WriteStartObject("jobsByState");
        foreach (var group in view.Jobs.Values.GroupBy(j => j.State).OrderBy(g => g.Key))
        {
            json.WriteNumber(StateName(group.Key), group.Count());
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteNodes(Utf8JsonWriter json, MasterView view)
    {
        json.WriteStartArray("nodes");
        foreach (var node in view.Nodes.Values)
        {
            json.WriteStartObject();
            json.WriteString("id", node.Id);
            json.WriteString("health", node.Health.ToString().ToUpperInvariant());
            json.WriteBoolean("cordoned", node.Cordoned);
            json.WriteBoolean("draining", node.Draining);
            json.WriteNumber("cpuMillis", node.Capacity?.CpuMillis ?? 0);
            json.WriteNumber("cpuMillisUsed", (node.Capacity?.CpuMillis ?? 0) - (node.Free?.CpuMillis ?? 0));
            json.WriteNumber("memoryMib", node.Capacity?.MemoryMib ?? 0);
            json.WriteNumber("memoryMibUsed", (node.Capacity?.MemoryMib ?? 0) - (node.Free?.MemoryMib ?? 0));
            Strings(json, "jobs", node.JobIds);
            json.WriteStartArray("gpus");
            foreach (var gpu in node.Gpus)
            {
                var t = gpu.Telemetry;
                json.WriteStartObject();
                json.WriteNumber("index", gpu.Info?.Index ?? 0);
                json.WriteString("model", gpu.Info?.Model ?? "");
                json.WriteNumber("allocatedMilli", 1000 - gpu.FreeMilli);
                json.WriteNumber("utilizationPercent", t?.UtilizationPercent ?? 0);
                json.WriteNumber("memoryUsedMib", t?.MemoryUsedMib ?? 0);
                json.WriteNumber("memoryTotalMib", t is { MemoryTotalMib: > 0 } ? t.MemoryTotalMib : gpu.Info?.MemoryMib ?? 0);
                json.WriteNumber("temperatureC", t?.TemperatureC ?? 0);
                json.WriteNumber("powerW", (t?.PowerMw ?? 0) / 1000);
                Strings(json, "jobs", gpu.JobIds);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteJobs(Utf8JsonWriter json, MasterView view, DateTimeOffset now)
    {
        var pending = view.Jobs.Values.Where(j => j.State == JobState.Pending).ToList();
        json.WriteNumber("queueLength", pending.Count);
        json.WriteStartArray("queue");
        foreach (var job in pending.OrderByDescending(j => j.Priority).ThenBy(j => j.Sequence).Take(MaxQueue))
        {
            json.WriteStartObject();
            Common(json, job);
            json.WriteNumber("waitingSeconds", Math.Max(0, (long)(now - job.CreatedAt).TotalSeconds));
            json.WriteString("reason", job.PendingReason);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        var running = view.Jobs.Values.Where(j => j.State is JobState.Running or JobState.Assigned).ToList();
        json.WriteNumber("runningCount", running.Count);
        json.WriteStartArray("running");
        foreach (var job in running.OrderBy(j => j.Sequence).Take(MaxRunning))
        {
            json.WriteStartObject();
            Common(json, job);
            json.WriteString("state", StateName(job.State));
            json.WriteString("node", job.NodeId ?? "");
            json.WriteNumber("attempt", job.Attempt);
            json.WriteNumber("runningSeconds", job.StartedAt is { } started ? Math.Max(0, (long)(now - started).TotalSeconds) : 0);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteEvents(Utf8JsonWriter json, JobFeed feed)
    {
        var current = feed.Current.Version;
        var changes = new List<JobFeed.Change>();
        if (!feed.TryRead(Math.Max(0, current - MaxEvents), current, changes))
        {
            changes.Clear();
        }

        json.WriteStartArray("events");
        foreach (var change in Enumerable.Reverse(changes))
        {
            var job = change.Job;
            json.WriteStartObject();
            json.WriteNumber("version", change.Version);
            json.WriteString("time", job.UpdatedAt);
            json.WriteString("job", job.Id);
            json.WriteString("state", StateName(job.State));
            json.WriteString("node", job.NodeId ?? "");
            json.WriteString("message", job.State == JobState.Pending ? job.PendingReason : job.Message);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void Common(Utf8JsonWriter json, JobRecord job)
    {
        json.WriteString("id", job.Id);
        json.WriteString("name", job.Spec.Name);
        json.WriteString("tenant", job.Spec.Tenant.Length == 0 ? "default" : job.Spec.Tenant);
        json.WriteNumber("priority", job.Priority);
        var r = job.Spec.Resources;
        json.WriteNumber("cpuMillis", r?.CpuMillis ?? 0);
        json.WriteNumber("memoryMib", r?.MemoryMib ?? 0);
        json.WriteNumber("gpus", r is null ? 0 : r.Gpus > 0 ? r.Gpus : r.GpuMilli / 1000.0);
    }

    private static void Strings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static string StateName(JobState state) => state.ToString().ToUpperInvariant();
}
