using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Telemetry;

/// <summary>
/// The worker's one Meter. GPU and agent readings are the ones each node last sent the master in a
/// heartbeat, kept per node (a process may host many simulated nodes), so a scrape never touches
/// the GPU driver or the agents itself and shows exactly what the master was told.
/// </summary>
internal sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "Scheduler.Worker";
    private const double MiB = 1024 * 1024;
    private readonly Meter _meter;
    private readonly ConcurrentDictionary<string, Heartbeat> _last = new(StringComparer.Ordinal);
    private readonly Counter<long> _heartbeats;
    private readonly Counter<long> _starts;

    public WorkerMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _heartbeats = _meter.CreateCounter<long>("scheduler.worker.heartbeats", "{heartbeat}", "Heartbeats sent to the master");
        _starts = _meter.CreateCounter<long>("scheduler.worker.agent.starts", "{agent}", "Start commands obeyed (agents started or failed to start)");
        _meter.CreateObservableGauge("scheduler.worker.gpu.utilization", () => Gpus(g => g.UtilizationPercent / 100.0), "1", "GPU utilisation (0..1)");
        _meter.CreateObservableGauge("scheduler.worker.gpu.memory.used", () => Gpus(g => g.MemoryUsedMib * MiB), "By", "GPU memory used");
        _meter.CreateObservableGauge("scheduler.worker.gpu.memory.total", () => Gpus(g => g.MemoryTotalMib * MiB), "By", "GPU memory in total");
        _meter.CreateObservableGauge("scheduler.worker.gpu.temperature", () => Gpus(g => (double)g.TemperatureC), "Cel", "GPU core temperature");
        _meter.CreateObservableGauge("scheduler.worker.gpu.power", () => Gpus(g => g.PowerMw / 1000.0), "W", "GPU power draw");
        _meter.CreateObservableGauge("scheduler.worker.gpu.ecc.errors", () => Gpus(g => (double)g.EccErrors), "{error}", "Volatile uncorrected ECC errors since the driver loaded");
        _meter.CreateObservableGauge("scheduler.worker.agents", AgentsByState, "{agent}", "Agents by state (starting, running, exited, failed_to_start)");
        _meter.CreateObservableCounter("scheduler.worker.agent.cpu.time", () => Agents(a => a.CpuTimeMs / 1000.0), "s", "CPU time used by each agent's process tree");
        _meter.CreateObservableGauge("scheduler.worker.agent.memory", () => Agents(a => a.MemoryRssMib * MiB), "By", "Resident memory of each agent's process tree");
    }

    /// <summary>Remembers what <paramref name="nodeId"/> just reported; the heartbeat is not changed after it is sent.</summary>
    public void HeartbeatSent(string nodeId, Heartbeat heartbeat)
    {
        _last[nodeId] = heartbeat;
        _heartbeats.Add(1, new KeyValuePair<string, object?>("node", nodeId));
    }

    public void AgentStartCommanded(string nodeId) => _starts.Add(1, new KeyValuePair<string, object?>("node", nodeId));

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> Gpus(Func<GpuTelemetry, double> read)
    {
        foreach (var (node, heartbeat) in _last)
        {
            foreach (var gpu in heartbeat.Gpus)
            {
                yield return new Measurement<double>(read(gpu), new("node", node), new("gpu", gpu.Uuid), new("index", gpu.Index));
            }
        }
    }

    private IEnumerable<Measurement<double>> Agents(Func<AgentStatus, double> read)
    {
        foreach (var (node, heartbeat) in _last)
        {
            foreach (var agent in heartbeat.Agents)
            {
                if (agent.State == AgentState.Running)
                {
                    yield return new Measurement<double>(read(agent), new("node", node), new("job", agent.JobId), new("attempt", agent.Attempt));
                }
            }
        }
    }

    private IEnumerable<Measurement<long>> AgentsByState()
    {
        foreach (var (node, heartbeat) in _last)
        {
            foreach (var state in new[] { AgentState.Starting, AgentState.Running, AgentState.Exited, AgentState.FailedToStart })
            {
                yield return new Measurement<long>(heartbeat.Agents.Count(a => a.State == state),
                    new("node", node), new("state", StateName(state)));
            }
        }
    }

    private static string StateName(AgentState state) => state switch
    {
        AgentState.Starting => "starting",
        AgentState.Running => "running",
        AgentState.Exited => "exited",
        AgentState.FailedToStart => "failed_to_start",
        _ => "unknown",
    };
}
