namespace Scheduler.Worker.Agents;

/// <summary>
/// Keeps agents' output from filling the disk: every interval it rotates the logs of live agents
/// that grew past the size limit (<see cref="LogRotation"/>) and deletes the folders of agents the
/// supervisor has forgotten (exited, and the master acknowledged it) once they have been quiet for
/// the retention time. It only ever deletes under the supervisor's agents/ folder.
/// </summary>
internal sealed partial class AgentLogSweeper : IAsyncDisposable
{
    private static readonly string[] LogNames = ["stdout.log", "stderr.log"];

    private readonly AgentSupervisor _agents;
    private readonly AgentLogPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _run;

    public AgentLogSweeper(AgentSupervisor agents, AgentLogPolicy policy, TimeProvider time, ILogger logger)
    {
        _agents = agents;
        _policy = policy;
        _time = time;
        _logger = logger;
    }

    /// <summary>Sweeps every <see cref="AgentLogPolicy.Interval"/> until stopped; does nothing when the policy turns both off.</summary>
    public void Start()
    {
        if (_run is null && _policy.Enabled)
        {
            _run = RunAsync(_stopping.Token);
        }
    }

    public async Task StopAsync(CancellationToken ct)
    {
        await _stopping.CancelAsync();
        if (_run is { } run)
        {
            await run.WaitAsync(ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    /// <summary>One pass: rotations first (live agents), then retention (forgotten ones).</summary>
    public SweepResult Sweep()
    {
        var rotated = _policy.MaxLogBytes > 0 ? RotateLiveLogs(_policy.MaxLogBytes) : 0;
        var deleted = _policy.Retention > TimeSpan.Zero ? DeleteForgotten(_time.GetUtcNow() - _policy.Retention) : 0;
        return new SweepResult(rotated, deleted);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        // The timer exists once Start returns (this runs synchronously up to the first wait), so a
        // clock advanced right after Start is seen.
        using var timer = new PeriodicTimer(_policy.Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    Sweep();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    LogSweepFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private int RotateLiveLogs(long maxBytes)
    {
        var rotated = 0;
        foreach (var directory in _agents.LiveDirectories())
        {
            foreach (var name in LogNames)
            {
                var path = Path.Combine(directory, name);
                try
                {
                    if (LogRotation.RotateIfLarger(path, maxBytes))
                    {
                        rotated++;
                        LogRotated(path, maxBytes);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    LogRotationFailed(path, ex.Message);
                }
            }
        }

        return rotated;
    }

    private int DeleteForgotten(DateTimeOffset quietSince)
    {
        var root = new DirectoryInfo(_agents.AgentsRoot);
        if (!root.Exists)
        {
            return 0;
        }

        var deleted = 0;
        foreach (var job in root.EnumerateDirectories())
        {
            if (AgentFolders.IsLink(job))
            {
                continue;
            }

            foreach (var attempt in job.EnumerateDirectories())
            {
                if (AgentFolders.IsLink(attempt))
                {
                    continue;
                }

                if (AgentFolders.IsRetired(attempt.Name))
                {
                    // A deletion an earlier sweep (or worker) began and could not finish.
                    AgentFolders.TryDelete(attempt.FullName, out _);
                    continue;
                }

                if (AgentFolders.ParseAttempt(attempt.Name) is not { } number
                    || AgentFolders.LastActivity(attempt) > quietSince
                    || _agents.RetireDirectory(new AgentKey(job.Name, number)) is not { } aside)
                {
                    continue;
                }

                if (AgentFolders.TryDelete(aside, out var error))
                {
                    deleted++;
                    LogDeleted(job.Name, number);
                }
                else
                {
                    LogDeleteFailed(aside, error ?? "");
                }
            }

            _agents.RemoveEmptyJobDirectory(job.Name);
        }

        return deleted;
    }

    [LoggerMessage(40, LogLevel.Information, "Rotated {Path}: its newest {MaxBytes} bytes kept in .1, the live file truncated")]
    private partial void LogRotated(string path, long maxBytes);

    [LoggerMessage(41, LogLevel.Warning, "Could not rotate {Path}: {Reason}")]
    private partial void LogRotationFailed(string path, string reason);

    [LoggerMessage(42, LogLevel.Information, "Deleted the folder of agent {JobId}#{Attempt}: acknowledged and past retention")]
    private partial void LogDeleted(string jobId, int attempt);

    [LoggerMessage(43, LogLevel.Warning, "Could not delete {Path} (retried on the next sweep): {Reason}")]
    private partial void LogDeleteFailed(string path, string reason);

    [LoggerMessage(44, LogLevel.Warning, "Agent log sweep failed; retried on the next tick")]
    private partial void LogSweepFailed(Exception exception);
}
