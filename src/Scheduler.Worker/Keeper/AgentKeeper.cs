using System.Diagnostics;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Keeper;

/// <summary>
/// The worker's side of the keeper: starts the keeper process, tells it which agents to guard and
/// renews each node's lease. A keeper that dies is started again and told everything anew.
/// </summary>
internal sealed partial class AgentKeeper : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, KeeperMessage> _tracked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KeeperMessage> _leases = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private Process? _process;
    private bool _disposed;

    private readonly string _owner;

    /// <param name="owner">Shown in the keeper's command line, so `ps` tells which worker it guards.</param>
    public AgentKeeper(string owner, ILogger logger)
    {
        _owner = owner;
        _logger = logger;
        lock (_lock)
        {
            Launch_NeedsLock();
        }
    }

    /// <summary>The group's agents are killed unless another lease comes before <paramref name="deadline"/> (a Stopwatch timestamp).</summary>
    public void Lease(string group, long deadline) =>
        Send(new KeeperMessage(KeeperMessage.Lease, Group: group, Deadline: deadline), remember: m => _leases[group] = m);

    public void Track(string group, AgentKey key, AgentTree tree, string marker) =>
        Send(
            new KeeperMessage(KeeperMessage.Track, group, Id(group, key), Pid: tree.Pid, Token: tree.Token, Cgroup: tree.Cgroup, Marker: marker),
            remember: m => _tracked[m.Id] = m);

    public void Untrack(string group, AgentKey key) =>
        Send(new KeeperMessage(KeeperMessage.Untrack, group, Id(group, key)), remember: m => _tracked.Remove(m.Id));

    public void Dispose()
    {
        Process? process;
        lock (_lock)
        {
            _disposed = true;
            process = _process;
            _process = null;
        }

        if (process is null)
        {
            return;
        }

        // Closing its input is the keeper's signal that the worker is done: it kills what is still
        // tracked (nothing, after a graceful stop) and exits.
        try
        {
            process.StandardInput.Close();
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
        }

        process.Dispose();
    }

    private static string Id(string group, AgentKey key) => $"{group}/{key}";

    private void Send(KeeperMessage message, Action<KeeperMessage> remember)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            remember(message);
            if (TryWrite_NeedsLock(message.ToLine()))
            {
                return;
            }

            // The keeper died (killed by hand?): a new one must know every agent and lease.
            LogKeeperRestarted(_process?.HasExited == true ? _process.ExitCode : -1);
            _process?.Dispose();
            Launch_NeedsLock();
            foreach (var m in _leases.Values.Concat(_tracked.Values))
            {
                TryWrite_NeedsLock(m.ToLine());
            }
        }
    }

    private bool TryWrite_NeedsLock(string line)
    {
        try
        {
            if (_process is null || _process.HasExited)
            {
                return false;
            }

            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
            return true;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Launch_NeedsLock()
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("the worker's own executable is unknown");
        var viaDotnet = Path.GetFileNameWithoutExtension(self) == "dotnet";

        // Its own session, so a terminal's Ctrl+C or Ctrl+Z for the worker's group never reaches it.
        var info = new ProcessStartInfo(File.Exists(AgentLauncher.SetSid) ? AgentLauncher.SetSid : self)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
        };
        if (File.Exists(AgentLauncher.SetSid))
        {
            info.ArgumentList.Add(self);
        }

        if (viaDotnet)
        {
            info.ArgumentList.Add(typeof(AgentKeeper).Assembly.Location);
        }

        info.ArgumentList.Add(KeeperProcess.Verb);
        info.ArgumentList.Add(_owner);
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start the agent keeper");
        LogKeeperStarted(_process.Id);
    }

    [LoggerMessage(40, LogLevel.Information, "Agent keeper started as pid {Pid}")]
    private partial void LogKeeperStarted(int pid);

    [LoggerMessage(41, LogLevel.Error, "Agent keeper exited unexpectedly (code {Code}); starting a new one")]
    private partial void LogKeeperRestarted(int code);
}
