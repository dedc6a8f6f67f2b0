using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Keeper;
using Scheduler.Worker.Link;
using Scheduler.Worker.Migration;
using Scheduler.Worker.Telemetry;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker;

/// <summary>
/// Runs one node, or with <see cref="WorkerOptions.Simulate"/> many simulated nodes in this one
/// process (each with its own identity, data folder, probe and stream; agents are still real).
/// </summary>
internal sealed partial class WorkerService : BackgroundService
{
    private readonly WorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<WorkerService> _logger;
    private readonly TransferEndpoint _transfer;
    private readonly TransferAuthorizations _authorizations;
    private readonly IncomingMigrations _incoming;
    private readonly WorkerMetrics _metrics;
    private readonly Scheduler.Hosting.ClusterTls? _tls;

    /// <param name="tls">Registered unless the worker runs with --insecure.</param>
    public WorkerService(
        IOptions<WorkerOptions> options,
        TimeProvider time,
        ILoggerFactory loggers,
        TransferEndpoint transfer,
        TransferAuthorizations authorizations,
        IncomingMigrations incoming,
        WorkerMetrics metrics,
        Scheduler.Hosting.ClusterTls? tls = null)
    {
        _tls = tls;
        _metrics = metrics;
        _options = options.Value;
        _transfer = transfer;
        _authorizations = authorizations;
        _incoming = incoming;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger<WorkerService>();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nodes = _options.Simulate > 0
            ? Enumerable.Range(0, _options.Simulate).Select(i => ($"{_options.NodeId}-{i:D3}", Path.Combine(_options.DataDir, $"{_options.NodeId}-{i:D3}"))).ToArray()
            : [(_options.NodeId, _options.DataDir)];
        if (!AgentLauncher.Supervised)
        {
            LogUnsupervised(AgentLauncher.SetPriv, AgentLauncher.SetSid);
        }

        var (agentUser, perAgent, _) = AgentUser.Resolve(_options.AgentUser, Posix.EffectiveUserId, AgentLauncher.Supervised, AgentUser.Lookup);
        var (firstUid, lastUid, _) = AgentUidPool.ParseRange(_options.AgentUidRange);

        // One pool for every node this process hosts (--simulate), so no two of its agents share an id.
        using var uids = perAgent ? new AgentUidPool(firstUid, lastUid, AgentUidPool.HostLockDirectory, AgentUidPool.HostUsersIn) : null;
        if (perAgent)
        {
            foreach (var (nodeId, dataDir) in nodes)
            {
                foreach (var (directory, reason) in AgentScratch.Reclaim(dataDir))
                {
                    LogReclaimAtStartFailed(nodeId, directory, reason);
                }
            }
        }

        if (agentUser is not null)
        {
            LogAgentUser(agentUser.Name, agentUser.Uid, agentUser.Gid);
        }
        else if (perAgent)
        {
            LogAgentUids(firstUid, lastUid);
        }
        else if (Posix.EffectiveUserId == 0)
        {
            LogAgentsAsRoot();
        }

        // Registered only once peers can reach us: the master hands this address to migration sources.
        var transferAddress = await _transfer.WhenBoundAsync(stoppingToken);
        using var launcher = new AgentLauncher();

        // Disposed after the links have stopped their agents: the keeper then has nothing left to kill.
        using var keeper = new AgentKeeper(Path.GetFullPath(_options.DataDir), _loggers.CreateLogger<AgentKeeper>());
        var probes = new List<IGpuProbe>();
        var migrations = new List<WorkerMigration>();
        var sweepers = new List<AgentLogSweeper>();
        var cgroupRoots = new List<AgentCgroups>();

        // One fencing timer and one warning budget for all the nodes of this process (many when simulated).
        await using var ticker = new FencingTicker(_time);
        var warnings = new RepeatedWarnings(_time);
        using var connections = _options.Simulate > 0 ? new MasterConnections(_tls) : null;
        using var registrations = _options.Simulate > 0 ? new RegistrationGate(_options.MaxRegistrationsInFlight) : null;
        try
        {
            var links = new List<Task>();
            foreach (var (nodeId, dataDir) in nodes)
            {
                Directory.CreateDirectory(dataDir);
                var probe = _options.Simulate > 0
                    ? GpuProbeFactory.CreateSimulated(_options, nodeId)
                    : GpuProbeFactory.Create(_options, nodeId, _logger);
                probes.Add(probe);
                var identity = new WorkerIdentity(nodeId, dataDir, HostResources.CpuMillis(_options), HostResources.MemoryMib(_options), HostResources.ParseLabels(_options.Labels), transferAddress);
                var cgroups = AgentCgroups.Create(nodeId, dataDir);
                cgroupRoots.Add(cgroups);
                if (cgroups.Root is null && nodes.Length == 1)
                {
                    LogNoCgroups(nodeId);
                }

                var agents = new AgentSupervisor(dataDir, nodeId, launcher, _time, _loggers.CreateLogger<AgentSupervisor>(), keeper, cgroups, agentUser, uids);
                var sweeper = new AgentLogSweeper(agents, AgentLogPolicy.From(_options), _time, _loggers.CreateLogger<AgentLogSweeper>());
                sweepers.Add(sweeper);
                sweeper.Start();
                var checkpoints = new AgentCheckpoints(agents, new AppLevelCheckpointer(_time), _loggers.CreateLogger<AgentCheckpoints>());
                var peers = new MigrationSourceOptions { Tls = _tls };
                var source = new MigrationSource(agents, checkpoints, _time, _loggers.CreateLogger<MigrationSource>(), peers);
                var migration = new WorkerMigration(
                    new MigrationTarget(_authorizations, _incoming, agents, _time, _loggers.CreateLogger<MigrationTarget>()),
                    source,
                    new CheckpointShipper(nodeId, agents, checkpoints, source, _incoming.RestoreRoot, _time, _loggers.CreateLogger<CheckpointShipper>(), peers));
                migrations.Add(migration);
                var link = new MasterLink(identity, probe, agents, _options, _time, _loggers.CreateLogger<MasterLink>(), keeper, cgroups, migration) { Metrics = _metrics, Tls = _tls, Ticker = ticker, Warnings = warnings, Connections = connections, Registrations = registrations };
                LogStarting(nodeId, probe.Kind, probe.Devices.Count, identity.CpuMillis, identity.MemoryMib, _options.Master, transferAddress);
                links.Add(link.RunAsync(stoppingToken));
            }

            await Task.WhenAll(links);
        }
        finally
        {
            foreach (var sweeper in sweepers)
            {
                await sweeper.DisposeAsync();
            }

            // After the links: their agents are stopped, so a migration still running fails at once.
            foreach (var migration in migrations)
            {
                await migration.Checkpoints.DisposeAsync();
                await migration.Source.DisposeAsync();
            }

            foreach (var probe in probes)
            {
                probe.Dispose();
            }

            // The links have stopped their agents: their cgroups are gone, so the folders are empty.
            foreach (var cgroups in cgroupRoots)
            {
                cgroups.RemoveRoot();
            }
        }
    }

    [LoggerMessage(8, LogLevel.Information, "Agents run as user {User} (uid {Uid}, gid {Gid}), their folders private to it")]
    private partial void LogAgentUser(string user, uint uid, uint gid);

    [LoggerMessage(17, LogLevel.Information, "Agents run each as a uid and gid of its own from {First}-{Last}, their folders private to it")]
    private partial void LogAgentUids(uint first, uint last);

    [LoggerMessage(9, LogLevel.Warning, "Agents run as root (--agent-user off): any job can read other agents' folders and change the host")]
    private partial void LogAgentsAsRoot();

    [LoggerMessage(1, LogLevel.Information, "Worker {NodeId} starting: {Probe} probe, {Gpus} GPUs, {CpuMillis}m CPU, {MemoryMib} MiB, master {Master}, transfers on {TransferAddress}")]
    private partial void LogStarting(string nodeId, string probe, int gpus, long cpuMillis, long memoryMib, string master, string transferAddress);

    [LoggerMessage(3, LogLevel.Information, "Node {NodeId}: no cgroup v2 to delegate here; agent trees are tracked by session and environment token, without CPU/memory limits")]
    private partial void LogNoCgroups(string nodeId);

    [LoggerMessage(2, LogLevel.Warning, "{SetPriv} or {SetSid} missing: agents will not die with the worker nor be stopped as a group")]
    private partial void LogUnsupervised(string setPriv, string setSid);

    [LoggerMessage(18, LogLevel.Warning, "Node {NodeId}: could not take {Directory} back from earlier agents' ids: {Reason}")]
    private partial void LogReclaimAtStartFailed(string nodeId, string directory, string reason);
}
