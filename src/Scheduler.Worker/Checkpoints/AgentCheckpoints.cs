using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Checkpoints;

/// <summary>
/// Checkpoint requests for this worker's agents: refuses agents that did not opt in, numbers
/// each agent's checkpoints and lets one run at a time. The mechanism is the checkpointer's.
/// A final checkpoint leaves the agent running but unchanging: the caller stops it once the
/// checkpoint is safe elsewhere, or restarts it from there if that fails.
/// </summary>
internal sealed partial class AgentCheckpoints
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private readonly Dictionary<AgentKey, Progress> _progress = [];
    private readonly AgentSupervisor _agents;
    private readonly ICheckpointer _checkpointer;
    private readonly ILogger _logger;

    public AgentCheckpoints(AgentSupervisor agents, ICheckpointer checkpointer, ILogger logger)
    {
        _agents = agents;
        _checkpointer = checkpointer;
        _logger = logger;
    }

    /// <summary>Takes one checkpoint, bounded by <paramref name="timeout"/> (default 30 s); throws <see cref="CheckpointException"/> when refused or incomplete.</summary>
    public async Task<CheckpointResult> RequestAsync(AgentKey key, CheckpointMode mode, TimeSpan? timeout, CancellationToken ct)
    {
        var agent = _agents.FindRunning(key)
            ?? throw new CheckpointException(CheckpointFailure.NotRunning, $"agent {key} is not running on this worker");
        if (agent.CheckpointDirectory is not { } directory)
        {
            throw new CheckpointException(CheckpointFailure.NotCheckpointable,
                $"agent {key} is not checkpointable (its job did not set checkpointable): it can be restarted, not checkpointed");
        }

        var sequence = Begin(key);
        var request = new CheckpointRequest(key, agent.Pid, directory, sequence, mode, timeout ?? DefaultTimeout);
        LogRequested(key.ToString(), sequence, mode.ToWire(), _checkpointer.Name);
        try
        {
            var result = await _checkpointer.CheckpointAsync(request, ct);
            LogCompleted(key.ToString(), sequence, mode.ToWire(), (long)result.Duration.TotalMilliseconds, result.Bytes, result.Files.Count);
            End(key, finalTaken: mode == CheckpointMode.Final);
            return result;
        }
        catch (CheckpointException ex)
        {
            LogFailed(key.ToString(), sequence, ex.Failure.ToString(), ex.Message);
            End(key, finalTaken: false);
            throw;
        }
        catch (OperationCanceledException)
        {
            End(key, finalTaken: false);
            throw;
        }
    }

    private long Begin(AgentKey key)
    {
        lock (_lock)
        {
            // Agents come and go; forget the ones no longer running rather than keep them forever.
            foreach (var gone in _progress.Keys.Where(k => k != key && _agents.FindRunning(k) is null).ToArray())
            {
                _progress.Remove(gone);
            }

            var progress = _progress.TryGetValue(key, out var known) ? known : _progress[key] = new Progress();
            if (progress.InFlight)
            {
                throw new CheckpointException(CheckpointFailure.Busy, $"checkpoint {progress.Sequence} of agent {key} is still in progress");
            }

            if (progress.FinalTaken)
            {
                throw new CheckpointException(CheckpointFailure.Busy, $"agent {key} has taken its final checkpoint ({progress.Sequence}); it changes no state any more");
            }

            progress.InFlight = true;
            return ++progress.Sequence;
        }
    }

    private void End(AgentKey key, bool finalTaken)
    {
        lock (_lock)
        {
            if (_progress.TryGetValue(key, out var progress))
            {
                progress.InFlight = false;
                progress.FinalTaken |= finalTaken;
            }
        }
    }

    [LoggerMessage(40, LogLevel.Information, "Checkpoint {Sequence} ({Mode}) of agent {Agent} requested ({Checkpointer})")]
    private partial void LogRequested(string agent, long sequence, string mode, string checkpointer);

    [LoggerMessage(41, LogLevel.Information, "Checkpoint {Sequence} ({Mode}) of agent {Agent} complete in {DurationMs} ms: {Bytes} bytes in {FileCount} files")]
    private partial void LogCompleted(string agent, long sequence, string mode, long durationMs, long bytes, int fileCount);

    [LoggerMessage(42, LogLevel.Warning, "Checkpoint {Sequence} of agent {Agent} failed ({Failure}): {Message}")]
    private partial void LogFailed(string agent, long sequence, string failure, string message);

    private sealed class Progress
    {
        public long Sequence { get; set; }

        public bool InFlight { get; set; }

        public bool FinalTaken { get; set; }
    }
}
