using System.Collections.Concurrent;
using System.Diagnostics;

namespace Scheduler.Worker.Agents;

/// <summary>
/// Starts every agent from one long-lived thread. Agents are started with a parent-death signal,
/// and Linux sends it when the thread that forked them exits, not the process: forking from a
/// pool thread would kill agents whenever the pool retired that thread. The signal still fires
/// if the worker dies, so no agent outlives its worker unsupervised. A start waits here behind the
/// others (every node of a worker process shares one launcher), and one stopped or fenced while it
/// waits is dropped, never forked: a fenced agent's exit then always means its process ran.
/// </summary>
internal sealed class AgentLauncher : IDisposable
{
    private readonly BlockingCollection<(Func<Process> Prepare, Func<bool> Launch, TaskCompletionSource<Process?> Started)> _requests = new();
    private readonly Thread _thread;
    private readonly Action<Process> _start;

    public AgentLauncher()
        : this(process => process.Start())
    {
    }

    /// <summary>Tests hold the launcher thread with a <paramref name="start"/> of their own.</summary>
    internal AgentLauncher(Action<Process> start)
    {
        _start = start;
        _thread = new Thread(Run) { IsBackground = true, Name = "agent-launcher" };
        _thread.Start();
    }

    /// <summary>Whether agents get a parent-death signal and their own session (util-linux present).</summary>
    public static bool Supervised { get; } = File.Exists(SetPriv) && File.Exists(SetSid);

    internal const string SetPriv = "/usr/bin/setpriv";
    internal const string SetSid = "/usr/bin/setsid";

    /// <summary>
    /// Prepares the process with <paramref name="prepare"/> and starts it, both on the launcher thread once the
    /// starts queued before it are through; the task's result is the started process. <paramref name="launch"/>
    /// is asked there before preparing and again right before the fork: false drops the start (the agent was
    /// stopped while it waited), and the result is then null. Preparing (folders, cgroup, ids, a checkpoint's
    /// owner) blocks on the file system: done by the caller, on the thread reading the master's commands, it
    /// held those commands back and, with hundreds of starts at once, starved the thread pool that sends the
    /// heartbeats (dotnet-trace of the simulation host in bench e2e). An exception from either step is the task's.
    /// </summary>
    public Task<Process?> StartAsync(Func<Process> prepare, Func<bool> launch, CancellationToken ct)
    {
        var started = new TaskCompletionSource<Process?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Add((prepare, launch, started), ct);
        return started.Task;
    }

    public void Dispose()
    {
        _requests.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(5));
        _requests.Dispose();
    }

    private void Run()
    {
        foreach (var (prepare, launch, started) in _requests.GetConsumingEnumerable())
        {
            Process? process = null;
            try
            {
                if (!launch())
                {
                    started.SetResult(null);
                    continue;
                }

                process = prepare();
                if (!launch())
                {
                    process.Dispose();
                    started.SetResult(null);
                    continue;
                }

                _start(process);
                started.SetResult(process);
            }
            catch (Exception ex)
            {
                process?.Dispose();
                started.SetException(ex);
            }
        }
    }
}
