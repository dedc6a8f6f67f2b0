using System.Diagnostics;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Keeper;

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
    private readonly string _checkpointRoot;
    private readonly string _nodeId;
    private readonly AgentLauncher _launcher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AgentKeeper? _keeper;
    private readonly AgentCgroups? _cgroups;
    private readonly AgentUser? _user;
    private readonly AgentUidPool? _uids;
    private bool _shuttingDown;

    public AgentSupervisor(
        string dataDir,
        string nodeId,
        AgentLauncher launcher,
        TimeProvider time,
        ILogger logger,
        AgentKeeper? keeper = null,
        AgentCgroups? cgroups = null,
        AgentUser? user = null,
        AgentUidPool? uids = null)
    {
        _root = Path.GetFullPath(Path.Combine(dataDir, "agents"));
        _checkpointRoot = Path.GetFullPath(Path.Combine(dataDir, "checkpoints"));
        _nodeId = nodeId;
        _launcher = launcher;
        _time = time;
        _logger = logger;
        _keeper = keeper;
        _cgroups = cgroups;
        _user = user;
        _uids = uids;
    }

    /// <summary>The one user every agent runs as; null: the worker's own, or one of <see cref="Uids"/> per agent.</summary>
    public AgentUser? User => _user;

    /// <summary>When set, each agent runs as an id of its own from this pool.</summary>
    public AgentUidPool? Uids => _uids;

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

    /// <summary>
    /// Refuses a start that may be stale (it reached a worker past its fencing deadline, e.g. one
    /// thawed after SIGSTOP): reported as fenced, so the master, which will have requeued the job,
    /// just acknowledges it, and the job never runs in two places.
    /// </summary>
    public void RefuseStart(StartAgent start, string reason) => FailToStart(start, reason, fenced: true);

    /// <summary>
    /// Reports the start as FAILED_TO_START without trying it (e.g. the checkpoint it should resume
    /// from is not here); with <paramref name="fenced"/> the master requeues the job instead.
    /// </summary>
    public void FailToStart(StartAgent start, string reason, bool fenced = false)
    {
        var key = new AgentKey(start.JobId, start.Attempt);
        Agent agent;
        lock (_lock)
        {
            if (_agents.TryGetValue(key, out var existing))
            {
                // A repeated start: the first one's outcome stands.
                Publish(existing.ToStatus());
                return;
            }

            agent = new Agent(key, [.. start.GpuUuids], AgentDirectory(key)) { Fenced = fenced, StopRequested = true };
            _agents[key] = agent;
        }

        LogRefused(key.ToString(), reason);
        Finish(agent, AgentState.FailedToStart, null, reason);
    }

    public Task StartAsync(StartAgent start, CancellationToken ct) => StartAsync(start, checkpoint: null, ct);

    /// <summary>Starts an agent; with <paramref name="checkpoint"/> it is checkpointable (and may resume from a checkpoint).</summary>
    public async Task StartAsync(StartAgent start, CheckpointStart? checkpoint, CancellationToken ct)
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

            agent = new Agent(key, [.. start.GpuUuids], AgentDirectory(key))
            {
                CheckpointDirectory = checkpoint is null || !IsSafeSegment(start.JobId) ? null : CheckpointDirectory(key),
                RestoreDirectory = checkpoint?.RestoreDir,
                RestoreOrigin = checkpoint?.Origin,
            };
            _agents[key] = agent;
            if (_shuttingDown)
            {
                // A start that crossed our Leaving message: not the job's failure, so it is requeued.
                agent.HostStop = true;
            }
        }

        if (agent.HostStop)
        {
            Finish(agent, AgentState.FailedToStart, null, $"{_nodeId} is shutting down");
            return;
        }

        Process? process;
        try
        {
            // Prepared and forked on the launcher's thread, never on the caller's (the stream's reader).
            process = await _launcher.StartAsync(
                () =>
                {
                    var prepared = Prepare(agent, start);
                    prepared.Exited += (_, _) => OnExited(agent, prepared);
                    return prepared;
                },
                () => MayLaunch(agent),
                ct);
        }
        catch (AgentStartException ex)
        {
            Finish(agent, AgentState.FailedToStart, null, ex.Message);
            return;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            Finish(agent, AgentState.FailedToStart, null, ex.Message);
            return;
        }

        if (process is null)
        {
            // Stopped or fenced while it waited for the launcher: never forked, so FAILED_TO_START with the
            // stop's flags (fenced, stopped by the host), never EXITED: an EXITED agent's process ran.
            Finish(agent, AgentState.FailedToStart, null, NotLaunched(agent));
            return;
        }

        AgentStatus status;
        bool stopAtOnce;
        AgentTree tree;
        lock (_lock)
        {
            agent.Process = process;
            agent.Pid = process.Id;
            agent.Tree = tree = agent.Tree! with { Pid = process.Id };
            stopAtOnce = agent.StopRequested;
            if (agent.State == AgentState.Starting)
            {
                agent.State = AgentState.Running;
                agent.Message = $"pid {agent.Pid}";
            }

            status = agent.ToStatus();
        }

        _keeper?.Track(_nodeId, key, tree, agent.FencedMarker);
        LogStarted(key.ToString(), agent.Pid, string.Join(',', agent.GpuUuids));
        Publish(status);
        if (stopAtOnce)
        {
            tree.Kill(everywhere: false);
        }
    }

    /// <summary>The agent of <paramref name="key"/> if its process is running, as a checkpoint needs it.</summary>
    public RunningAgent? FindRunning(AgentKey key)
    {
        lock (_lock)
        {
            return _agents.TryGetValue(key, out var agent) && agent.State == AgentState.Running && agent.Pid > 0 && !agent.StopRequested
                ? new RunningAgent(key, agent.Pid, agent.CheckpointDirectory)
                : null;
        }
    }

    /// <summary>
    /// Kills an agent that has moved: its final checkpoint is committed on the migration's target, so
    /// it changes nothing any more and needs no grace. Its exit is reported as migrated, which tells
    /// the master to resume the job there rather than requeue or fail it.
    /// </summary>
    public bool StopMigrated(AgentKey key, string reason)
    {
        lock (_lock)
        {
            if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive)
            {
                return false;
            }

            agent.Migrated = true;
        }

        Stop(key, TimeSpan.Zero, reason);
        return true;
    }

    /// <summary>
    /// Kills an agent this worker had to stop for its own reasons (a migration that failed after the
    /// agent froze for its final checkpoint): its exit is reported as stopped by the host, so the
    /// master requeues the job without using a retry, rather than taking the kill for its outcome.
    /// </summary>
    public bool StopAsHost(AgentKey key, string reason)
    {
        lock (_lock)
        {
            if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive)
            {
                return false;
            }

            agent.HostStop = true;
        }

        Stop(key, TimeSpan.Zero, reason);
        return true;
    }

    /// <summary>Completes once the agent of <paramref name="key"/> is not live (or unknown here).</summary>
    public async Task WhenExitedAsync(AgentKey key, CancellationToken ct)
    {
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(AgentStatus status)
        {
            if (status.JobId == key.JobId && status.Attempt == key.Attempt && status.State is AgentState.Exited or AgentState.FailedToStart)
            {
                exited.TrySetResult();
            }
        }

        Changed += OnChanged;
        try
        {
            lock (_lock)
            {
                if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive)
                {
                    return;
                }
            }

            await exited.Task.WaitAsync(ct);
        }
        finally
        {
            Changed -= OnChanged;
        }
    }

    /// <summary>
    /// Waits at most <paramref name="wait"/> for the agent to exit, not cancelled by shutdown (a report
    /// that follows an agent's exit should follow its exit event); false when it had not exited by then.
    /// </summary>
    public async Task<bool> WaitForExitAsync(AgentKey key, TimeSpan wait, TimeProvider time)
    {
        using var bounded = new CancellationTokenSource(wait, time);
        try
        {
            await WhenExitedAsync(key, bounded.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>True while a live agent was started to resume from <paramref name="directory"/>.</summary>
    public bool IsRestoringFrom(string directory)
    {
        var full = Path.GetFullPath(directory);
        lock (_lock)
        {
            return _agents.Values.Any(a => a.IsLive && a.RestoreDirectory is { } restore && Path.GetFullPath(restore) == full);
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
            // Not forked yet: still waiting for the launcher, it is dropped there (never forked); being forked
            // now, StartAsync kills it as soon as it has a PID.
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
        AgentTree[] trees;
        lock (_lock)
        {
            var live = _agents.Values.Where(a => a.IsLive).ToArray();
            foreach (var agent in live)
            {
                agent.Fenced = true;
                agent.StopRequested = true;
                agent.Message = reason;
            }

            trees = live.Select(a => a.Tree).OfType<AgentTree>().Where(t => t.Pid > 0).ToArray();
        }

        if (trees.Length > 0)
        {
            LogFenced(trees.Length, reason);
        }

        foreach (var tree in trees)
        {
            tree.Kill(everywhere: true);
        }
    }

    /// <summary>
    /// Worker shutdown: refuses new agents from now on, stops every live one and waits, bounded,
    /// until they have exited. Each is reported as stopped by the host, so the master requeues it
    /// without using a retry, unless it exited 0 by itself.
    /// </summary>
    public async Task StopAllAsync(TimeSpan grace, string reason, CancellationToken ct)
    {
        AgentKey[] keys;
        lock (_lock)
        {
            _shuttingDown = true;
            keys = _agents.Values.Where(a => a.IsLive).Select(a => a.Key).ToArray();
            foreach (var key in keys)
            {
                _agents[key].HostStop = true;
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

    /// <summary>Agents whose exit the master has not acknowledged yet.</summary>
    public int UnacknowledgedCount
    {
        get
        {
            lock (_lock)
            {
                return _agents.Count;
            }
        }
    }

    /// <summary>The master recorded the exit: forget the agent (its logs stay on disk).</summary>
    public void Ack(AgentKey key)
    {
        Agent? forgotten = null;
        lock (_lock)
        {
            if (_agents.TryGetValue(key, out var agent) && !agent.IsLive)
            {
                _agents.Remove(key);
                agent.Process?.Dispose();
                AgentCgroups.Remove(agent.Tree?.Cgroup);
                forgotten = agent;
            }
        }

        if (forgotten is not null)
        {
            ReturnUid(forgotten);

            // Retention counts from here, not from the agent's last output, which may be days older.
            AgentFolders.Touch(forgotten.Directory, _time.GetUtcNow());
        }
    }

    /// <summary>agents/ under the data folder: every attempt's folder is agents/JOB/ATTEMPT.</summary>
    public string AgentsRoot => _root;

    /// <summary>The folders of the agents that are running or starting now, whose logs may grow.</summary>
    public IReadOnlyList<string> LiveDirectories()
    {
        lock (_lock)
        {
            return _agents.Values.Where(a => a.IsLive).Select(a => a.Directory).ToArray();
        }
    }

    /// <summary>
    /// Moves the folder of <paramref name="key"/> aside (to a name no attempt can have) for deleting,
    /// only while no agent of that key is known: the check and the move happen under the lock that a
    /// start takes to register its agent, so a start never finds its folder taken away. Returns the
    /// new path, or null when the agent is known or the folder could not be moved.
    /// </summary>
    public string? RetireDirectory(AgentKey key)
    {
        var directory = AgentDirectory(key);
        var aside = AgentFolders.RetiredName(directory);
        lock (_lock)
        {
            if (_agents.ContainsKey(key))
            {
                return null;
            }

            return AgentFolders.TryMove(directory, aside) ? aside : null;
        }
    }

    /// <summary>Removes agents/JOB when it is empty and no agent of the job is known (a start creates it again).</summary>
    public void RemoveEmptyJobDirectory(string jobId)
    {
        if (!IsSafeSegment(jobId))
        {
            return;
        }

        lock (_lock)
        {
            if (!_agents.Keys.Any(k => k.JobId == jobId))
            {
                AgentFolders.TryRemoveEmpty(Path.Combine(_root, jobId));
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
        var want = fetch.TailBytes <= 0 ? DefaultTailBytes : Math.Min(fetch.TailBytes, MaxTailBytes);
        if (LogTail.Read(file, want) is not { } tail)
        {
            return reply;
        }

        // Output rotated away is served from before the live file's start, so a tail (and `logs --follow`,
        // which aligns tails) reads across a rotation as one stream.
        if (tail.Length < want && LogTail.Read(file + LogRotation.RotatedSuffix, want - tail.Length) is { } older)
        {
            tail = new LogTail([.. older.Data, .. tail.Data], older.Truncated);
        }

        reply.Found = true;
        reply.Truncated = tail.Truncated;
        reply.Data = Google.Protobuf.ByteString.CopyFrom(tail.Data);
        return reply;
    }

    private async Task KillAfterAsync(AgentKey key, int pid, TimeSpan grace)
    {
        AgentTree? tree;
        await Task.Delay(grace, _time);
        lock (_lock)
        {
            if (!_agents.TryGetValue(key, out var agent) || !agent.IsLive || agent.Pid != pid)
            {
                return;
            }
        }

        LogKilled(key.ToString(), pid, (long)grace.TotalMilliseconds);
        lock (_lock)
        {
            tree = _agents.TryGetValue(key, out var agent) ? agent.Tree : null;
        }

        tree?.Kill(everywhere: false);
    }

    private Process Prepare(Agent agent, StartAgent start)
    {
        if (!IsSafeSegment(start.JobId))
        {
            throw new AgentStartException($"job id '{start.JobId}' cannot name a folder");
        }

        var user = agent.User = _uids?.Acquire(agent.Key) ?? _user;
        var work = Path.Combine(agent.Directory, "work");
        try
        {
            AgentScratch.CreatePassThrough(_root);
            AgentScratch.CreatePassThrough(Path.GetDirectoryName(agent.Directory)!);
            AgentScratch.CreatePrivate(agent.Directory, user);
            AgentScratch.CreatePrivate(work, user);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AgentStartException($"cannot prepare the agent's folders on {_nodeId}: {ex.Message}");
        }

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
        File.Delete(agent.FencedMarker);
        var cgroup = _cgroups?.CreateFor(agent.Key, start.Resources?.CpuMillis ?? 0, start.Resources?.MemoryMib ?? 0);
        agent.Tree = new AgentTree(0, $"{_nodeId}/{agent.Key}/{Guid.NewGuid():N}", cgroup);
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

        // The shell joins the agent's cgroup (when it has one) before anything else runs, so every
        // process the agent ever forks is in it.
        const string Script = "o=$1; e=$2; cg=$3; shift 3; [ -z \"$cg\" ] || { echo $$ >\"$cg/cgroup.procs\"; } 2>/dev/null; exec \"$@\" </dev/null >>\"$o\" 2>>\"$e\"";
        foreach (var arg in new[] { "-c", Script, "agent", stdout, stderr, cgroup ?? "" })
        {
            info.ArgumentList.Add(arg);
        }

        if (user is not null)
        {
            // The shell, still root, has joined the cgroup and opened the logs; the command runs as the agent user.
            info.ArgumentList.Add(AgentLauncher.SetPriv);
            foreach (var arg in user.SetPrivArguments())
            {
                info.ArgumentList.Add(arg);
            }
        }

        info.ArgumentList.Add(executable);

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
        info.Environment[AgentTree.TokenVariable] = agent.Tree.Token;
        if (start.Gang is { } gang)
        {
            GangEnvironment.Apply(gang, info.Environment);
        }

        if (user is not null)
        {
            // The worker's HOME (root's) is not the agent's to use.
            info.Environment["USER"] = info.Environment["LOGNAME"] = user.Name;
            if (!start.Env.ContainsKey("HOME"))
            {
                info.Environment["HOME"] = work;
            }
        }

        try
        {
            PrepareCheckpoints(agent, info);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AgentStartException($"cannot prepare the agent's checkpoint folders on {_nodeId}: {ex.Message}");
        }

        return new Process { StartInfo = info, EnableRaisingEvents = true };
    }

    /// <summary>
    /// Checkpointable agents get an empty folder of this attempt to checkpoint into and, when
    /// resuming, the complete checkpoint to resume from; the others get neither, whatever the job's
    /// environment or the worker's says.
    /// </summary>
    private void PrepareCheckpoints(Agent agent, ProcessStartInfo info)
    {
        info.Environment.Remove(CheckpointContract.CheckpointDirVariable);
        info.Environment.Remove(CheckpointContract.RestoreDirVariable);
        if (agent.CheckpointDirectory is not { } directory)
        {
            return;
        }

        if (agent.RestoreDirectory is { } restore)
        {
            restore = Path.GetFullPath(restore);
            var origin = agent.RestoreOrigin is { } named ? $" of {named}" : "";
            if (!Directory.Exists(restore))
            {
                throw new AgentStartException($"restore dir{origin} '{restore}' does not exist on {_nodeId}");
            }

            if (!File.Exists(Path.Combine(restore, CheckpointContract.CompleteFile)))
            {
                throw new AgentStartException($"restore dir{origin} '{restore}' holds no complete checkpoint on {_nodeId} (no {CheckpointContract.CompleteFile})");
            }

            if (restore.StartsWith(directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) || restore == directory)
            {
                throw new AgentStartException($"restore dir '{restore}' lies in the attempt's own checkpoint dir");
            }

            if (agent.User is { } user)
            {
                AgentScratch.GiveTree(restore, user);
            }

            info.Environment[CheckpointContract.RestoreDirVariable] = restore;
        }

        // A leftover from an earlier start of this attempt must not pass for this agent's checkpoint.
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        AgentScratch.CreatePassThrough(_checkpointRoot);
        AgentScratch.CreatePassThrough(Path.GetDirectoryName(directory)!);
        AgentScratch.CreatePrivate(directory, agent.User);
        info.Environment[CheckpointContract.CheckpointDirVariable] = directory;
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

        // The job ends with its main process: whatever it left behind in its session or cgroup goes too.
        agent.Tree?.Kill(everywhere: false);
        _keeper?.Untrack(_nodeId, agent.Key);
        if (File.Exists(agent.FencedMarker))
        {
            // Killed by the keeper while this worker could not act (frozen or cut off).
            lock (_lock)
            {
                agent.Fenced = true;
                agent.Message = File.ReadAllText(agent.FencedMarker);
                agent.StopRequested = true;
            }
        }

        Finish(agent, AgentState.Exited, code, null);
        AgentCgroups.Remove(agent.Tree?.Cgroup);
    }

    /// <summary>
    /// Gives an agent's own id back to the pool once the master has recorded its exit, after handing
    /// what it left (its folders, its checkpoint) to the worker, so the next agent given that id
    /// cannot read them. The worker ships and restores checkpoints as root, and gives a checkpoint to
    /// the agent that resumes from it.
    /// </summary>
    private void ReturnUid(Agent agent)
    {
        if (_uids?.Holding(agent.Key) is not { } user)
        {
            return;
        }

        // Everything the id could read is taken back first, the checkpoint it resumed from included; only
        // then may another agent get the id. An id whose files could not all be taken back stays held
        // (unused) until the worker restarts, rather than open another agent's files to the next one.
        var reclaimed = true;
        foreach (var directory in new[] { agent.Directory, agent.CheckpointDirectory, agent.RestoreDirectory })
        {
            if (directory is null || !System.IO.Directory.Exists(directory))
            {
                continue;
            }

            try
            {
                AgentScratch.GiveTree(directory, AgentUser.Root);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                reclaimed = false;
                LogReclaimFailed(agent.Key.ToString(), directory, ex.Message);
            }
        }

        if (reclaimed)
        {
            _uids.Release(agent.Key);
        }
        else
        {
            LogUidKept(agent.Key.ToString(), user.Uid);
        }
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

    /// <summary>
    /// Asked on the launcher thread right before the fork: false once a stop or a fence reached the agent
    /// while it waited. A stop that comes after this (during the fork) kills it as soon as it has a PID.
    /// </summary>
    private bool MayLaunch(Agent agent)
    {
        lock (_lock)
        {
            return !agent.StopRequested;
        }
    }

    private string NotLaunched(Agent agent)
    {
        lock (_lock)
        {
            return $"not started: {agent.Message}";
        }
    }

    private void Publish(AgentStatus status) => Changed?.Invoke(status);

    private string AgentDirectory(AgentKey key) =>
        Path.Combine(_root, key.JobId, key.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private string CheckpointDirectory(AgentKey key) =>
        Path.Combine(_checkpointRoot, key.JobId, key.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));

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

    [LoggerMessage(15, LogLevel.Warning, "Refused to start agent {Agent}: {Reason}")]
    private partial void LogRefused(string agent, string reason);

    [LoggerMessage(16, LogLevel.Warning, "Agent {Agent}: could not take {Directory} back from its uid: {Reason}")]
    private partial void LogReclaimFailed(string agent, string directory, string reason);

    [LoggerMessage(17, LogLevel.Warning, "Agent {Agent}: uid {Uid} stays out of the pool until the worker restarts, since not all its files could be taken back")]
    private partial void LogUidKept(string agent, uint uid);

    [LoggerMessage(14, LogLevel.Warning, "Fencing: killed {Count} agents: {Reason}")]
    private partial void LogFenced(int count, string reason);
}
