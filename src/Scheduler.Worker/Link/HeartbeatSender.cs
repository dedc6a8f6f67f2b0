using System.Threading.Channels;
using Google.Protobuf.WellKnownTypes;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;

namespace Scheduler.Worker.Link;

/// <summary>
/// One stream's heartbeats: GPU telemetry, the agents and the cached keys, every interval, each
/// remembered until the master acknowledges it, since the fencing clock restarts from the send
/// time of the newest acknowledged one.
/// </summary>
internal sealed class HeartbeatSender
{
    private readonly IGpuProbe _probe;
    private readonly AgentSupervisor _agents;
    private readonly string _dataDir;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly SentHeartbeats _sent = new();
    private readonly Action<Heartbeat>? _sentHook;

    /// <param name="sent">Told of every heartbeat handed to the stream (metrics); it must not change it.</param>
    public HeartbeatSender(IGpuProbe probe, AgentSupervisor agents, string dataDir, TimeSpan interval, TimeProvider time, Action<Heartbeat>? sent = null)
    {
        _sentHook = sent;
        _probe = probe;
        _agents = agents;
        _dataDir = dataDir;
        _interval = interval;
        _time = time;
    }

    /// <summary>Sends at once, then every interval, until <paramref name="ct"/> or the outbox closes.</summary>
    public async Task RunAsync(ChannelWriter<WorkerMessage> outbox, CancellationToken ct)
    {
        ulong sequence = 0;
        using var timer = new PeriodicTimer(_interval, _time);
        do
        {
            var heartbeat = new Heartbeat
            {
                Sequence = ++sequence,
                SentAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow()),
            };
            _sent.Add(sequence, _time.GetTimestamp());
            heartbeat.Gpus.AddRange(_probe.Sample(_agents.BusyGpus()));
            heartbeat.Agents.AddRange(_agents.Snapshot());
            heartbeat.CachedKeys.AddRange(CachedKeys());
            if (!outbox.TryWrite(new WorkerMessage { Heartbeat = heartbeat }))
            {
                return;
            }

            _sentHook?.Invoke(heartbeat);
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    /// <summary>When the acknowledged heartbeat was sent (a Stopwatch timestamp); null for one not sent on this stream.</summary>
    public long? Acknowledged(ulong sequence) => _sent.TakeSentAt(sequence);

    private IEnumerable<string> CachedKeys()
    {
        var cache = Path.Combine(_dataDir, "cache");
        return Directory.Exists(cache)
            ? Directory.EnumerateFileSystemEntries(cache).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];
    }
}
