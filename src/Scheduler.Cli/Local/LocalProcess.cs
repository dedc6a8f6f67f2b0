using System.Diagnostics;

namespace Scheduler.Cli.Local;

/// <summary>A child process (etcd member, master or worker) with its output in a log file; stopped by PID.</summary>
internal sealed class LocalProcess : IAsyncDisposable
{
    private readonly Process _process;

    private LocalProcess(string name, Process process, string logPath)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
    }

    public string Name { get; }

    public string LogPath { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    private const string SetSid = "/usr/bin/setsid";

    public static LocalProcess StartDotnet(string name, string dll, IEnumerable<string> args, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var host = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        return Start(name, host, [dll, .. args], logPath, environment);
    }

    /// <summary>Starts <paramref name="fileName"/> (a path, or a name found on PATH) with its output appended to <paramref name="logPath"/>.</summary>
    /// <param name="environment">Variables set for the process on top of this one's.</param>
    public static LocalProcess Start(string name, string fileName, IEnumerable<string> args, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        // The shell points output at the log and execs, so the PID is the process itself. Its own
        // session keeps a terminal's Ctrl+C from reaching it: schedctl stops its children itself, in
        // order (workers first, so they can hand their jobs back to a master still listening).
        var info = new ProcessStartInfo(File.Exists(SetSid) ? SetSid : "/bin/sh") { UseShellExecute = false };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var shell = new[] { "-c", "log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1", "sh", logPath, fileName };
        foreach (var arg in (File.Exists(SetSid) ? ["/bin/sh", .. shell] : shell).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        return new LocalProcess(name, Process.Start(info) ?? throw new InvalidOperationException($"could not start {name}"), logPath);
    }

    public void Kill() => _process.Kill();

    /// <summary>SIGTERM, then SIGKILL if it has not exited within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        Posix.Signal(_process.Id, Posix.SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    public string Tail(int bytes = 4000)
    {
        if (!File.Exists(LogPath))
        {
            return "";
        }

        var text = File.ReadAllText(LogPath);
        return text.Length > bytes ? text[^bytes..] : text;
    }

    public async ValueTask DisposeAsync()
    {
        // A worker's graceful leave: its agents' grace (5 s), the master's acknowledgements, the close.
        await StopAsync(TimeSpan.FromSeconds(20));
        _process.Dispose();
    }
}
