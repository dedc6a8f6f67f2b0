using System.Diagnostics;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Agents;

/// <summary>
/// Runs this node's agents as OS processes and reports every state change. Starting is idempotent
/// per (job, attempt); output goes to files under the data folder so it outlives the worker.
/// </summary>
internal sealed partial class AgentSupervisor
{
    private const int DefaultTailBytes = 64 * 1024;
    private const int MaxTailBytes = 1024 * 1024;
    private readonly Lock _lock = new();
    private readonly Dictionary<AgentKey, Agent> _agents = [];
    private readonly string _root;
    private readonly string _nodeId;
    private readonly AgentLauncher _launcher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public AgentSupervisor(string dataDir, string nodeId, AgentLauncher launcher, TimeProvider time, ILogger logger)
    {
        _root = Path.GetFullPath(Path.Combine(dataDir, "agents"));
        _nodeId = nodeId;
        _launcher = launcher;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised outside the lock after every state change.</summary>
    public event Action<AgentStatus>? Changed;

    public int LiveCount
    {
        get
        {
            lock (_lock)
            {
                return _agents.Values.Count(a => a.IsLive);
            }
        }
    }

    /// <summary>Every agent not yet acknowledged by the master.</summary>
    public IReadOnlyList<AgentStatus> Snapshot()
    {
        lock (_lock)
        {
            return _agents.Values.Select(a => a.ToStatus()).ToArray();
        }
    }

    public IReadOnlySet<string> BusyGpus()
    {
        lock (_lock)
        {
            return _agents.Values.Where(a => a.IsLive).SelectMany(a => a.GpuUuids).ToHashSet(StringComparer.Ordinal);
        }
    }

    public async Task StartAsync(StartAgent start, CancellationToken ct)
    {
        var key = new AgentKey(start.JobId, start.Attempt);
        Agent agent;
        lock (_lock)
        {
            if (_agents.TryGetValue(key, out var existing))
            {
                // A repeated start (master failover, resend): report where it is, never start twice.
                Publish(existing.ToStatus());
                return;
            }

            agent = new Agent(key, [.. start.GpuUuids], AgentDirectory(key));
            _agents[key] = agent;
        }

        Process process;
        try
        {
            process = Prepare(agent, start);
        }
        catch (AgentStartException ex)
        {
            Finish(agent, AgentState.FailedToStart, null, ex.Message);
            return;
        }

        process.Exited += (_, _) => OnExited(agent, process);
        try
        {
            await _launcher.StartAsync(process, ct);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            process.Dispose();
            Finish(agent, AgentState.FailedToStart, null, ex.Message);
            return;
        }

        AgentStatus status;
        bool stopAtOnce;
        lock (_lock)
        {
            agent.Process = process;
            agent.Pid = process.Id;
            stopAtOnce = agent.StopRequested;
            if (agent.State == AgentState.Starting)
            {
                agent.State = AgentState.Running;
                agent.Message = $"pid {agent.Pid}";
            }

            status = agent.ToStatus();
        }

        LogStarted(key.ToString(), agent.Pid, string.Join(',', agent.GpuUuids));
        Publish(status);
        if (stopAtOnce)
        {
            Posix.SignalGroup(agent.Pid, Posix.SigKill);
        }
    }

    /// <summary>SIGTERM to the agent's process group, SIGKILL after <paramref name="grace"/>.</summary>
    public void Stop(AgentKey key, TimeSpan grace, string reason)
    {
        int pid;
        lock (_lock)
        {
            if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive)
            {
                return;
            }

            agent.StopRequested = true;
            agent.Message = $"stopped: {reason}";
            pid = agent.Pid;
        }

        LogStopping(key.ToString(), pid, reason);
        if (pid <= 0)
        {
            // Not forked yet: StartAsync kills it as soon as it has a PID.
            return;
        }

        Posix.SignalGroup(pid, grace > TimeSpan.Zero ? Posix.SigTerm : Posix.SigKill);
        if (grace > TimeSpan.Zero)
        {
            _ = KillAfterAsync(key, pid, grace);
        }
    }

    /// <summary>
    /// Kills every live agent at once because this worker may already have been declared dead:
    /// the master is running them elsewhere, and two copies must never run.
    /// </summary>
    public void Fence(string reason)
    {
        int[] pids;
        lock (_lock)
        {
            var live = _agents.Values.Where(a => a.IsLive).ToArray();
            foreach (var agent in live)
            {
                agent.Fenced = true;
                agent.StopRequested = true;
                agent.Message = reason;
            }

            pids = live.Select(a => a.Pid).Where(p => p > 0).ToArray();
        }

        if (pids.Length > 0)
        {
            LogFenced(pids.Length, reason);
        }

        foreach (var pid in pids)
        {
            Posix.SignalGroup(pid, Posix.SigKill);
        }
    }

    /// <summary>Stops every agent (worker shutdown) and waits, bounded, until they have exited.</summary>
    public async Task StopAllAsync(TimeSpan grace, string reason, CancellationToken ct)
    {
        AgentKey[] keys;
        lock (_lock)
        {
            keys = _agents.Values.Where(a => a.IsLive).Select(a => a.Key).ToArray();
            foreach (var key in keys)
            {
                // Not the job's fault: the master requeues them instead of failing them.
                _agents[key].Fenced = true;
            }
        }

        foreach (var key in keys)
        {
            Stop(key, grace, reason);
        }

        var deadline = _time.GetUtcNow() + grace + TimeSpan.FromSeconds(2);
        while (LiveCount > 0 && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, ct);
        }
    }

    /// <summary>The master recorded the exit: forget the agent (its logs stay on disk).</summary>
    public void Ack(AgentKey key)
    {
        lock (_lock)
        {
            if (_agents.TryGetValue(key, out var agent) && !agent.IsLive)
            {
                _agents.Remove(key);
                agent.Process?.Dispose();
            }
        }
    }

    public LogsReply ReadLogs(FetchLogs fetch)
    {
        var reply = new LogsReply { RequestId = fetch.RequestId };
        if (!IsSafeSegment(fetch.JobId))
        {
            return reply;
        }

        var file = Path.Combine(AgentDirectory(new AgentKey(fetch.JobId, fetch.Attempt)),
            fetch.Stream == LogStream.Stderr ? "stderr.log" : "stdout.log");
        if (!File.Exists(file))
        {
            return reply;
        }

        var want = fetch.TailBytes <= 0 ? DefaultTailBytes : Math.Min(fetch.TailBytes, MaxTailBytes);
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var start = Math.Max(0, stream.Length - want);
        stream.Position = start;
        var buffer = new byte[stream.Length - start];
        stream.ReadExactly(buffer);
        reply.Found = true;
        reply.Truncated = start > 0;
        reply.Data = Google.Protobuf.ByteString.CopyFrom(buffer);
        return reply;
    }

    private async Task KillAfterAsync(AgentKey key, int pid, TimeSpan grace)
    {
        await Task.Delay(grace, _time);
        lock (_lock)
        {
            if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive || agent.Pid != pid)
            {
                return;
            }
        }

        LogKilled(key.ToString(), pid, (long)grace.TotalMilliseconds);
        Posix.SignalGroup(pid, Posix.SigKill);
    }

    private Process Prepare(Agent agent, StartAgent start)
    {
        if (!IsSafeSegment(start.JobId))
        {
            throw new AgentStartException($"job id '{start.JobId}' cannot name a folder");
        }

        var work = Path.Combine(agent.Directory, "work");
        Directory.CreateDirectory(work);
        var workingDir = start.WorkingDir.Length == 0 ? work : start.WorkingDir;
        if (!Directory.Exists(workingDir))
        {
            throw new AgentStartException($"working_dir '{workingDir}' does not exist on {_nodeId}");
        }

        var path = start.Env.TryGetValue("PATH", out var jobPath) ? jobPath : Environment.GetEnvironmentVariable("PATH") ?? "";
        var executable = CommandResolver.Resolve(start.Command, path, workingDir)
            ?? throw new AgentStartException($"command '{start.Command}' not found or not executable on {_nodeId}");

        var stdout = Path.Combine(agent.Directory, "stdout.log");
        var stderr = Path.Combine(agent.Directory, "stderr.log");
        var info = new ProcessStartInfo { UseShellExecute = false, WorkingDirectory = workingDir };
        if (AgentLauncher.Supervised)
        {
            // Parent-death signal, then a session of its own (so a stop reaches its children), then
            // a shell that points output at the log files and execs the command in its place.
            info.FileName = AgentLauncher.SetPriv;
            foreach (var arg in new[] { "--pdeathsig", "KILL", "--", AgentLauncher.SetSid, "--", "/bin/sh" })
            {
                info.ArgumentList.Add(arg);
            }
        }
        else
        {
            info.FileName = "/bin/sh";
        }

        foreach (var arg in new[] { "-c", "o=$1; e=$2; shift 2; exec \"$@\" </dev/null >>\"$o\" 2>>\"$e\"", "agent", stdout, stderr, executable })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var arg in start.Args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in start.Env)
        {
            info.Environment[name] = value;
        }

        var gpus = string.Join(',', start.GpuUuids);
        info.Environment["CUDA_VISIBLE_DEVICES"] = gpus;
        info.Environment["NVIDIA_VISIBLE_DEVICES"] = gpus.Length == 0 ? "none" : gpus;
        info.Environment["SCHEDULER_JOB_ID"] = start.JobId;
        info.Environment["SCHEDULER_ATTEMPT"] = start.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["SCHEDULER_NODE_ID"] = _nodeId;
        info.Environment["SCHEDULER_AGENT_DIR"] = agent.Directory;
        return new Process { StartInfo = info, EnableRaisingEvents = true };
    }

    private void OnExited(Agent agent, Process process)
    {
        int code;
        try
        {
            code = process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            code = -1;
        }

        Finish(agent, AgentState.Exited, code, null);
    }

    private void Finish(Agent agent, AgentState state, int? code, string? message)
    {
        AgentStatus status;
        lock (_lock)
        {
            agent.State = state;
            agent.ExitCode = code;
            if (message is not null)
            {
                agent.Message = message;
            }
            else if (!agent.StopRequested)
            {
                agent.Message = $"exited with code {code}";
            }

            status = agent.ToStatus();
        }

        LogExited(agent.Key.ToString(), state.ToString(), code ?? -1, status.Message);
        Publish(status);
    }

    private void Publish(AgentStatus status) => Changed?.Invoke(status);

    private string AgentDirectory(AgentKey key) =>
        Path.Combine(_root, key.JobId, key.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static bool IsSafeSegment(string value) =>
        value.Length is > 0 and <= 200 && value != "." && value != ".." && value.IndexOfAny(['/', '\\', '\0']) < 0;

    [LoggerMessage(10, LogLevel.Information, "Agent {Agent} started as pid {Pid} (GPUs: {Gpus})")]
    private partial void LogStarted(string agent, int pid, string gpus);

    [LoggerMessage(11, LogLevel.Information, "Stopping agent {Agent} (pid {Pid}): {Reason}")]
    private partial void LogStopping(string agent, int pid, string reason);

    [LoggerMessage(12, LogLevel.Warning, "Agent {Agent} (pid {Pid}) ignored SIGTERM for {GraceMs} ms: killed")]
    private partial void LogKilled(string agent, int pid, long graceMs);

    [LoggerMessage(13, LogLevel.Information, "Agent {Agent} {State} code {Code}: {Message}")]
    private partial void LogExited(string agent, string state, int code, string message);

    [LoggerMessage(14, LogLevel.Warning, "Fencing: killed {Count} agents: {Reason}")]
    private partial void LogFenced(int count, string reason);
}
