using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>
/// Stored checkpoints, the worker's half: <see cref="CheckpointAgent"/> checkpoints a running agent and
/// pushes the checkpoint to the targets the master chose (periodic replication, suspend, preemption;
/// this worker may be one of them and keeps its own copy), stopping the agent afterwards when asked;
/// <see cref="ShipCheckpoint"/> pushes a checkpoint stored here to the worker where the job resumes.
/// With stop, the agent is stopped only once a target holds the final checkpoint, so the job's state
/// is never lost. Each runs in the background, bounded in time, and ends with a
/// <see cref="CheckpointReport"/>.
/// </summary>
internal sealed partial class CheckpointShipper : IAsyncDisposable
{
    private readonly AgentSupervisor _agents;
    private readonly AgentCheckpoints _checkpoints;
    private readonly MigrationSource _migrations;
    private readonly string _restoreRoot;
    private readonly string _nodeId;
    private readonly MigrationSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Task> _inFlight = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <param name="nodeId">This worker's node: a final checkpoint it is to keep itself is linked, not sent.</param>
    public CheckpointShipper(string nodeId, AgentSupervisor agents, AgentCheckpoints checkpoints, MigrationSource migrations, string restoreRoot, TimeProvider time, ILogger logger, MigrationSourceOptions? options = null)
    {
        _nodeId = nodeId;
        _agents = agents;
        _checkpoints = checkpoints;
        _migrations = migrations;
        _restoreRoot = restoreRoot;
        _time = time;
        _logger = logger;
        _options = options ?? new MigrationSourceOptions();
    }

    /// <summary>Starts checkpointing the agent in the background; <paramref name="report"/> gets the outcome (also a refusal).</summary>
    public void Begin(CheckpointAgent command, Action<CheckpointReport> report)
    {
        var key = new AgentKey(command.JobId, command.Attempt);
        var error = !MigrationIds.IsValid(command.CheckpointId) ? $"checkpoint_id: '{command.CheckpointId}' is not one path component of letters, digits, '.', '_' or '-'"
            : command.JobId.Length == 0 ? "job_id: required"
            : command.Token.Length == 0 ? "token: required"
            : command.Targets.Count == 0 ? "targets: at least one is required"
            : command.Targets.FirstOrDefault(t => MigrationPlan.TargetUri(t.Address) is null) is { } bad ? $"targets: '{bad.Address}' of {bad.NodeId} is not host:port"
            : _migrations.IsMigrating(key) ? $"agent {key} is migrating; it is checkpointed by its migration"
            : null;
        var agentKey = "agent:" + key;
        Run(command.CheckpointId, agentKey, error, report, new CheckpointReport { CheckpointId = command.CheckpointId, JobId = key.JobId, Attempt = key.Attempt },
            outcome => CheckpointAsync(command, key, outcome, _stopping.Token));
    }

    /// <summary>Starts pushing the checkpoint stored here to the command's target in the background.</summary>
    public void Ship(ShipCheckpoint command, Action<CheckpointReport> report)
    {
        var error = !MigrationIds.IsValid(command.CheckpointId) ? $"checkpoint_id: '{command.CheckpointId}' is not a valid checkpoint id"
            : !MigrationIds.IsValid(command.ShipmentId) ? $"shipment_id: '{command.ShipmentId}' is not a valid id"
            : command.Token.Length == 0 ? "token: required"
            : MigrationPlan.TargetUri(command.TargetAddress) is null ? $"target_address: '{command.TargetAddress}' is not host:port"
            : !Directory.Exists(Path.Combine(_restoreRoot, command.CheckpointId)) ? $"checkpoint {command.CheckpointId} is not stored on this worker"
            : null;
        Run(command.ShipmentId, "shipment:" + command.ShipmentId, error, report,
            new CheckpointReport { CheckpointId = command.ShipmentId, JobId = command.JobId, Attempt = command.Attempt, Shipment = true },
            outcome => ShipAsync(command, outcome, _stopping.Token));
    }

    /// <summary>Cancels what is in flight (each reports its failure) and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (_lock)
        {
            _disposed = true;
            running = [.. _inFlight.Values];
        }

        await _stopping.CancelAsync();
        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private void Run(string id, string slot, string? error, Action<CheckpointReport> report, CheckpointReport outcome, Func<CheckpointReport, Task> work)
    {
        lock (_lock)
        {
            error ??= _disposed ? "the worker is shutting down"
                : _inFlight.ContainsKey(slot) ? $"{slot} is already being checkpointed or shipped; one at a time"
                : null;
            if (error is null)
            {
                _inFlight[slot] = Task.Run(async () =>
                {
                    try
                    {
                        await work(outcome);
                    }
                    finally
                    {
                        lock (_lock)
                        {
                            _inFlight.Remove(slot);
                        }
                    }

                    report(outcome);
                });
                return;
            }
        }

        LogRefused(id, error);
        outcome.Ok = false;
        outcome.Error = error;
        report(outcome);
    }

    private async Task CheckpointAsync(CheckpointAgent command, AgentKey key, CheckpointReport report, CancellationToken stopping)
    {
        var frozen = false;
        try
        {
            if (command.Stop)
            {
                report.TakenAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
                frozen = true;
            }

            var checkpoint = await _checkpoints.RequestAsync(key, command.Stop ? CheckpointMode.Final : CheckpointMode.Live, _options.CheckpointTimeout, stopping);
            report.TakenAt ??= Timestamp.FromDateTimeOffset(_time.GetUtcNow());

            // To every target at once, each within its own time bound: a slow or refusing peer costs
            // only its own copy, never the others (the node's own copy of a final checkpoint included).
            var outcomes = await Task.WhenAll(command.Targets.Select(async target =>
            {
                using var timeout = new CancellationTokenSource(_options.RoundTimeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, timeout.Token);
                try
                {
                    if (command.Stop && target.NodeId == _nodeId)
                    {
                        // Its own copy of a final checkpoint: linked into the restore root, no transfer.
                        return (target.NodeId, Bytes: LocalCheckpointCopy.Keep(checkpoint.Directory, checkpoint.Files, _restoreRoot, command.CheckpointId), Sent: 0L, Error: (string?)null);
                    }

                    var stats = await SendAsync(checkpoint.Directory, target.Address, command.CheckpointId, command.Token, command.CheckpointId, linked.Token);
                    return (target.NodeId, Bytes: stats.BytesTotal, Sent: stats.BytesSent, Error: (string?)null);
                }
                catch (Exception ex) when (!stopping.IsCancellationRequested
                    && ex is RpcException or IOException or InvalidOperationException or UnauthorizedAccessException or OperationCanceledException)
                {
                    return (target.NodeId, Bytes: 0L, Sent: 0L, Error: timeout.IsCancellationRequested ? $"took longer than {_options.RoundTimeout.TotalSeconds:0.###} s" : Describe(ex));
                }
            }));
            var errors = new List<string>();
            foreach (var (nodeId, bytes, sent, error) in outcomes)
            {
                if (error is not null)
                {
                    errors.Add($"{nodeId}: {error}");
                    continue;
                }

                report.StoredOn.Add(nodeId);
                report.Bytes = bytes;
                report.BytesSent += sent;
            }

            if (report.StoredOn.Count == 0)
            {
                throw new MigrationFailedException($"no target stored checkpoint {command.CheckpointId}: {string.Join("; ", errors)}");
            }

            report.Error = string.Join("; ", errors);
            if (command.Stop)
            {
                if (!_agents.StopMigrated(key, $"checkpoint {command.CheckpointId} stored on {string.Join(", ", report.StoredOn)}; stopped"))
                {
                    throw new MigrationFailedException($"agent {key} exited after its final checkpoint was stored, before it could be stopped");
                }

                await _agents.WaitForExitAsync(key, _options.ExitWait, _time);
                report.AgentStopped = true;
            }

            report.Ok = true;
            LogStored(key.ToString(), command.CheckpointId, string.Join(", ", report.StoredOn), report.Bytes, command.Stop);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            report.Ok = false;
            report.Error = stopping.IsCancellationRequested ? "the worker is shutting down" : Describe(ex);
            if (frozen && _agents.FindRunning(key) is not null && !(ex is CheckpointException { Failure: CheckpointFailure.NotRunning }))
            {
                // Asked for its final checkpoint, the agent may have stopped changing state: it must
                // not carry on here as if nothing happened. Stopped as by the host: requeued, not failed.
                _agents.StopAsHost(key, $"checkpoint {command.CheckpointId} failed after the final checkpoint was asked for: {report.Error}");
                await _agents.WaitForExitAsync(key, _options.ExitWait, _time);
                report.SourceStopped = true;
            }

            LogFailed(key.ToString(), command.CheckpointId, report.SourceStopped, report.Error);
        }
    }

    private async Task ShipAsync(ShipCheckpoint command, CheckpointReport report, CancellationToken stopping)
    {
        using var deadline = new CancellationTokenSource(_options.RoundTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, deadline.Token);
        try
        {
            var stats = await SendAsync(Path.Combine(_restoreRoot, command.CheckpointId), command.TargetAddress, command.ShipmentId, command.Token, command.ShipmentId, linked.Token);
            report.Bytes = stats.BytesTotal;
            report.BytesSent = stats.BytesSent;
            report.Ok = true;
            LogShipped(command.CheckpointId, command.TargetAddress, command.ShipmentId, stats.BytesSent);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            report.Ok = false;
            report.Error = deadline.IsCancellationRequested ? $"the shipment took longer than {_options.RoundTimeout.TotalSeconds:0.###} s" : Describe(ex);
            LogShipFailed(command.CheckpointId, command.TargetAddress, report.Error);
        }
    }

    private async Task<TransferStats> SendAsync(string directory, string address, string id, string token, string destination, CancellationToken ct)
    {
        using var channel = _options.OpenChannel(MigrationPlan.TargetUri(address)!);
        var sender = new CheckpointSender(channel.CreateCallInvoker(), _options.Sender, _time);
        return await sender.SendAsync(directory, id, token, destination, ct);
    }

    private static string Describe(Exception ex) => ex switch
    {
        RpcException rpc => $"the target answered {rpc.StatusCode}: {rpc.Status.Detail}",
        _ => ex.Message,
    };

    [LoggerMessage(70, LogLevel.Information, "Checkpoint {CheckpointId} of {Agent} stored on {Nodes} ({Bytes} bytes; agent stopped: {Stopped})")]
    private partial void LogStored(string agent, string checkpointId, string nodes, long bytes, bool stopped);

    [LoggerMessage(71, LogLevel.Warning, "Checkpoint {CheckpointId} of {Agent} failed (agent stopped: {SourceStopped}): {Error}")]
    private partial void LogFailed(string agent, string checkpointId, bool sourceStopped, string error);

    [LoggerMessage(72, LogLevel.Information, "Shipped checkpoint {CheckpointId} to {Target} as {ShipmentId} ({BytesSent} bytes sent)")]
    private partial void LogShipped(string checkpointId, string target, string shipmentId, long bytesSent);

    [LoggerMessage(73, LogLevel.Warning, "Shipping checkpoint {CheckpointId} to {Target} failed: {Error}")]
    private partial void LogShipFailed(string checkpointId, string target, string error);

    [LoggerMessage(74, LogLevel.Warning, "Refused checkpoint command '{Id}': {Error}")]
    private partial void LogRefused(string id, string error);
}
