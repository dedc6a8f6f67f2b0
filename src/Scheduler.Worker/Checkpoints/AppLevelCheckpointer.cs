using System.Globalization;
using System.Text;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Checkpoints;

/// <summary>
/// Asks the agent to checkpoint itself: waits until it says it can take the signal, writes the
/// request, sends SIGUSR1 to its main process and waits for the completion marker. Transparent
/// process dumps (CRIU) do not work on these hosts, so this is the only kind for now.
/// </summary>
internal sealed class AppLevelCheckpointer : ICheckpointer
{
    public const string CheckpointerName = "app-level";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);
    private readonly TimeProvider _time;

    public AppLevelCheckpointer(TimeProvider time)
    {
        _time = time;
    }

    public string Name => CheckpointerName;

    public async Task<CheckpointResult> CheckpointAsync(CheckpointRequest request, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        await WaitAsync(request, started, () => File.Exists(Path.Combine(request.Directory, CheckpointContract.ReadyFile)),
            $"declare itself ready for checkpoints (it writes {CheckpointContract.ReadyFile} once its SIGUSR1 handler is installed)", ct);

        // The marker goes first, so the folder never shows an older COMPLETE over state being rewritten.
        var complete = Path.Combine(request.Directory, CheckpointContract.CompleteFile);
        File.Delete(complete);
        WriteAtomically(Path.Combine(request.Directory, CheckpointContract.RequestFile),
            string.Create(CultureInfo.InvariantCulture, $"{request.Sequence} {request.Mode.ToWire()}\n"));
        Posix.Signal(request.Pid, CheckpointContract.RequestSignal);

        await WaitAsync(request, started, () => MarksSequence(complete, request.Sequence),
            $"mark checkpoint {request.Sequence} complete ({CheckpointContract.CompleteFile})", ct);

        var files = Directory.EnumerateFiles(request.Directory, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(request.Directory, path))
            .Where(CheckpointContract.IsCheckpointFile)
            .Order(StringComparer.Ordinal)
            .ToArray();
        var bytes = files.Sum(file => new FileInfo(Path.Combine(request.Directory, file)).Length);
        return new CheckpointResult(request.Sequence, request.Mode, request.Directory, _time.GetElapsedTime(started), bytes, files);
    }

    private async Task WaitAsync(CheckpointRequest request, long started, Func<bool> done, string what, CancellationToken ct)
    {
        while (!done())
        {
            if (!Posix.IsAlive(request.Pid))
            {
                throw new CheckpointException(CheckpointFailure.AgentExited,
                    $"agent {request.Agent} (pid {request.Pid}) exited before it could {what}");
            }

            if (_time.GetElapsedTime(started) >= request.Timeout)
            {
                throw new CheckpointException(CheckpointFailure.TimedOut,
                    $"agent {request.Agent} (pid {request.Pid}) did not {what} within {request.Timeout.TotalSeconds:0.###} s; it is left running");
            }

            await Task.Delay(PollInterval, _time, ct);
        }
    }

    private static bool MarksSequence(string complete, long sequence)
    {
        try
        {
            return long.TryParse(File.ReadAllText(complete).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var marked) && marked == sequence;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }

    private static void WriteAtomically(string path, string content)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, content, Encoding.ASCII);
        File.Move(temporary, path, overwrite: true);
    }
}
