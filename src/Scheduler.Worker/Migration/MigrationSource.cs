using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>
/// The sending end of live migration (pre-copy): while the agent runs, live checkpoints are staged on
/// the target round after round, each sending only what changed, until a round is small enough; then
/// the final checkpoint, whose delta is sent and committed while the agent is frozen. The agent is
/// killed here only once the target holds the committed checkpoint, so the job is never lost and
/// never runs twice. Migrations run in the background, at most one per agent, each bounded in time.
/// </summary>
internal sealed partial class MigrationSource : IAsyncDisposable
{
    private const double Mebibyte = 1024 * 1024;
    private readonly AgentSupervisor _agents;
    private readonly AgentCheckpoints _checkpoints;
    private readonly MigrationSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<AgentKey, InFlight> _inFlight = [];
    private bool _disposed;

    public MigrationSource(AgentSupervisor agents, AgentCheckpoints checkpoints, TimeProvider time, ILogger logger, MigrationSourceOptions? options = null)
    {
        _agents = agents;
        _checkpoints = checkpoints;
        _time = time;
        _logger = logger;
        _options = options ?? new MigrationSourceOptions();
    }

    /// <summary>
    /// Starts the migration in the background and returns at once; <paramref name="report"/> gets its
    /// outcome (also a refusal: an invalid command, or one for an agent already migrating).
    /// </summary>
    public void Begin(MigrateAgent command, Action<MigrationReport> report)
    {
        if (MigrationPlan.TryFrom(command, out var invalid) is not { } plan)
        {
            LogRefused(command.MigrationId, command.JobId, command.Attempt, invalid);
            report(Failure(command.MigrationId, new AgentKey(command.JobId, command.Attempt), invalid));
            return;
        }

        string? busyWith = null;
        lock (_lock)
        {
            if (_disposed)
            {
                busyWith = "";
            }
            else if (_inFlight.TryGetValue(plan.Agent, out var running))
            {
                busyWith = running.MigrationId;
            }
            else
            {
                var entry = new InFlight(plan.MigrationId);
                _inFlight[plan.Agent] = entry;

                // Off the command loop from the first line: the rounds take seconds to minutes.
                entry.Run = Task.Run(() => RunAndReportAsync(plan, entry, report));
            }
        }

        if (busyWith is not null)
        {
            var error = busyWith.Length == 0
                ? "the worker is shutting down"
                : $"agent {plan.Agent} is already migrating (migration {busyWith}); one migration per agent at a time";
            LogRefused(plan.MigrationId, plan.Agent.JobId, plan.Agent.Attempt, error);
            report(Failure(plan.MigrationId, plan.Agent, error));
        }
    }

    /// <summary>True while a migration of <paramref name="agent"/> is running.</summary>
    public bool IsMigrating(AgentKey agent)
    {
        lock (_lock)
        {
            return _inFlight.ContainsKey(agent);
        }
    }

    /// <summary>Cancels the migrations in flight (each reports its failure) and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (_lock)
        {
            _disposed = true;
            running = _inFlight.Values.Select(f => f.Run).OfType<Task>().ToArray();
        }

        // Outside the lock: cancellation runs the migrations' continuations, which take it.
        await _stopping.CancelAsync();
        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private async Task RunAndReportAsync(MigrationPlan plan, InFlight entry, Action<MigrationReport> report)
    {
        MigrationReport outcome;
        try
        {
            outcome = await RunAsync(plan, _stopping.Token);
        }
        finally
        {
            // Forgotten before the report goes out: the master may answer it with the next migration at once.
            lock (_lock)
            {
                _inFlight.Remove(plan.Agent);
            }
        }

        report(outcome);
    }

    private async Task<MigrationReport> RunAsync(MigrationPlan plan, CancellationToken stopping)
    {
        var key = plan.Agent;
        var report = new MigrationReport { MigrationId = plan.MigrationId, JobId = key.JobId, Attempt = key.Attempt };
        using var deadline = new CancellationTokenSource(_options.Deadline, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, deadline.Token);
        var ct = linked.Token;
        long? frozenAt = null;
        var round = 0;
        try
        {
            if (_agents.FindRunning(key) is not { } agent)
            {
                throw new MigrationFailedException($"agent {key} is not running on this worker");
            }

            if (agent.CheckpointDirectory is null)
            {
                throw new MigrationFailedException($"agent {key} is not checkpointable (its job did not set checkpointable): it can be restarted, not migrated");
            }

            using var channel = _options.OpenChannel(plan.Target);
            var sender = new CheckpointSender(channel.CreateCallInvoker(), _options.Sender, _time);

            while (true)
            {
                round++;
                var sent = await RoundAsync(plan, sender, CheckpointMode.Live, round, ct);
                report.Rounds = round;
                report.BytesSent += sent;
                if (sent <= plan.FinalDeltaBytes || round >= plan.MaxRounds)
                {
                    break;
                }
            }

            // From here the agent changes no state: whatever happens next, it does not carry on here.
            report.StoppedAt = Timestamp.FromDateTimeOffset(_time.GetUtcNow());
            frozenAt = _time.GetTimestamp();
            round++;
            report.BytesSent += await RoundAsync(plan, sender, CheckpointMode.Final, round, ct);
            report.Rounds = round;
            var frozenFor = _time.GetElapsedTime(frozenAt.Value);

            if (!_agents.StopMigrated(key, $"migrated to {plan.TargetAddress} (migration {plan.MigrationId})"))
            {
                throw new MigrationFailedException($"agent {key} exited after its final checkpoint was committed, before it could be stopped as migrated");
            }

            await WaitForExitAsync(key);
            report.Ok = true;
            LogMigrated(key.ToString(), plan.TargetAddress, plan.MigrationId, report.Rounds, report.BytesSent / Mebibyte, (long)frozenFor.TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            report.Ok = false;
            report.Error = Describe(ex, round, stopping, deadline.Token);
            if (frozenAt is not null)
            {
                // Frozen by its final checkpoint, which may or may not be on the target: it must not
                // run on here. Its exit is flagged as stopped by the host (not migrated), so the
                // master requeues the job instead of taking the kill for its outcome.
                _agents.StopAsHost(key, $"migration {plan.MigrationId} failed after the final checkpoint: {report.Error}");
                await WaitForExitAsync(key);
                report.SourceStopped = true;
            }

            LogFailed(key.ToString(), plan.TargetAddress, plan.MigrationId, report.Rounds, report.SourceStopped, report.Error);
        }

        return report;
    }

    /// <summary>One checkpoint and its transfer: staged for a live round, committed as the migration's restore folder for the final one.</summary>
    private async Task<long> RoundAsync(MigrationPlan plan, CheckpointSender sender, CheckpointMode mode, int round, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(_options.RoundTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            var checkpoint = await _checkpoints.RequestAsync(plan.Agent, mode, _options.CheckpointTimeout, linked.Token);
            var destination = mode == CheckpointMode.Final ? plan.MigrationId : null;
            var stats = await sender.SendAsync(checkpoint.Directory, plan.MigrationId, plan.Token, destination, linked.Token);
            LogRound(plan.Agent.ToString(), plan.MigrationId, round, mode.ToWire(), stats.BytesSent, stats.BytesTotal, (long)stats.Duration.TotalMilliseconds);
            return stats.BytesSent;
        }
        catch (Exception ex) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested && ex is OperationCanceledException or RpcException)
        {
            throw new MigrationFailedException($"round {round} ({mode.ToWire()}) took longer than {_options.RoundTimeout.TotalSeconds:0.###} s");
        }
    }

    private async Task WaitForExitAsync(AgentKey key)
    {
        if (!await _agents.WaitForExitAsync(key, _options.ExitWait, _time))
        {
            LogExitSlow(key.ToString(), (long)_options.ExitWait.TotalMilliseconds);
        }
    }

    private string Describe(Exception ex, int round, CancellationToken stopping, CancellationToken deadline) => ex switch
    {
        _ when stopping.IsCancellationRequested => $"the worker is shutting down (in round {round})",
        _ when deadline.IsCancellationRequested => $"the migration took longer than {_options.Deadline.TotalSeconds:0.###} s (in round {round})",
        MigrationFailedException or CheckpointException => ex.Message,
        RpcException rpc => $"round {round}: the target answered {rpc.StatusCode}: {rpc.Status.Detail}",
        _ => $"round {round}: {ex.Message}",
    };

    private static MigrationReport Failure(string migrationId, AgentKey agent, string error) =>
        new() { MigrationId = migrationId, JobId = agent.JobId, Attempt = agent.Attempt, Ok = false, Error = error };

    [LoggerMessage(64, LogLevel.Information, "Migrated {Agent} to {Target} (migration {MigrationId}): {Rounds} rounds, {Mebibytes:0.0} MiB, agent stopped for {FrozenMs} ms before commit")]
    private partial void LogMigrated(string agent, string target, string migrationId, int rounds, double mebibytes, long frozenMs);

    [LoggerMessage(65, LogLevel.Warning, "Migration {MigrationId} of {Agent} to {Target} failed after {Rounds} rounds (agent stopped: {SourceStopped}): {Error}")]
    private partial void LogFailed(string agent, string target, string migrationId, int rounds, bool sourceStopped, string error);

    [LoggerMessage(66, LogLevel.Warning, "Refused migration '{MigrationId}' of {JobId}#{Attempt}: {Error}")]
    private partial void LogRefused(string migrationId, string jobId, int attempt, string error);

    [LoggerMessage(67, LogLevel.Debug, "Migration {MigrationId} of {Agent}: round {Round} ({Mode}) sent {BytesSent} of {BytesTotal} bytes in {DurationMs} ms")]
    private partial void LogRound(string agent, string migrationId, int round, string mode, long bytesSent, long bytesTotal, long durationMs);

    [LoggerMessage(68, LogLevel.Warning, "Agent {Agent} was killed after its migration but had not exited {WaitMs} ms later")]
    private partial void LogExitSlow(string agent, long waitMs);

    private sealed class InFlight(string migrationId)
    {
        public string MigrationId { get; } = migrationId;

        public Task? Run { get; set; }
    }
}
