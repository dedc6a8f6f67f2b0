using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

[assembly: SupportedOSPlatform("linux")]

namespace Samples;

/// <summary>
/// The agent's side of the scheduler's checkpoint contract (README, "Agent checkpoint contract"):
/// on SIGUSR1 read the request the worker wrote, write the state, then mark it complete with a
/// rename so the worker never sees half a checkpoint.
/// </summary>
internal sealed class AgentCheckpoint : IDisposable
{
    public const string CheckpointDirVariable = "SCHEDULER_CHECKPOINT_DIR";
    public const string RestoreDirVariable = "SCHEDULER_RESTORE_DIR";
    public const string RequestFile = ".request";
    public const string ReadyFile = ".ready";
    public const string CompleteFile = "COMPLETE";

    // SIGUSR1 has no PosixSignal member; Linux's raw number is accepted as a cast.
    private const PosixSignal SigUsr1 = (PosixSignal)10;

    private readonly Lock _lock = new();
    private readonly PosixSignalRegistration? _registration;
    private readonly Action<CheckpointRequest> _write;

    private AgentCheckpoint(string? directory, Action<CheckpointRequest> write)
    {
        _write = write;
        if (directory is null)
        {
            return;
        }

        _registration = PosixSignalRegistration.Create(SigUsr1, context =>
        {
            context.Cancel = true;
            OnSignal(directory);
        });

        // Only now may the worker signal us: before the handler exists SIGUSR1 would kill the process.
        File.WriteAllText(Path.Combine(directory, ReadyFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Where to resume from, when started to resume: a folder holding a complete checkpoint.</summary>
    public static string? RestoreDir => NonEmpty(Environment.GetEnvironmentVariable(RestoreDirVariable));

    /// <summary>
    /// Installs the SIGUSR1 handler and tells the worker it may ask for checkpoints; does nothing
    /// when the job is not checkpointable (no checkpoint folder was given).
    /// </summary>
    public static AgentCheckpoint Listen(Action<CheckpointRequest> write) =>
        new(NonEmpty(Environment.GetEnvironmentVariable(CheckpointDirVariable)), write);

    /// <summary>Fails unless <paramref name="directory"/> holds a checkpoint marked complete.</summary>
    public static void EnsureComplete(string directory)
    {
        if (!File.Exists(Path.Combine(directory, CompleteFile)))
        {
            throw new InvalidDataException($"{directory} holds no complete checkpoint (no {CompleteFile})");
        }
    }

    /// <summary>Writes <paramref name="path"/> whole or not at all: a temporary file (a dot name, so not part of the checkpoint), then a rename.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        var temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.tmp");
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose() => _registration?.Dispose();

    private void OnSignal(string directory)
    {
        // Signals may arrive while a checkpoint is being written; one at a time.
        lock (_lock)
        {
            try
            {
                var fields = File.ReadAllText(Path.Combine(directory, RequestFile)).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var request = new CheckpointRequest(directory, long.Parse(fields[0], CultureInfo.InvariantCulture), fields.Length > 1 && fields[1] == "final");
                if (File.Exists(Path.Combine(directory, CompleteFile)) &&
                    File.ReadAllText(Path.Combine(directory, CompleteFile)).Trim() == request.Sequence.ToString(CultureInfo.InvariantCulture))
                {
                    return;
                }

                _write(request);
                WriteAtomically(Path.Combine(directory, CompleteFile), System.Text.Encoding.ASCII.GetBytes($"{request.Sequence}\n"));
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
            {
                // Not marked complete: the worker's request times out and says so.
                Console.Error.WriteLine($"checkpoint failed: {ex.Message}");
            }
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>One checkpoint to write into <see cref="Directory"/>; after a final one the agent changes no state.</summary>
internal sealed record CheckpointRequest(string Directory, long Sequence, bool Final);
