namespace Scheduler.Worker.Checkpoints;

/// <summary>
/// The names agents and the worker agree on (README, "Agent checkpoint contract"). Names starting
/// with a dot in a checkpoint folder are protocol or scratch files, not part of the checkpoint.
/// </summary>
internal static class CheckpointContract
{
    /// <summary>A folder the worker owns for this attempt, empty at start; given only to checkpointable agents.</summary>
    public const string CheckpointDirVariable = "SCHEDULER_CHECKPOINT_DIR";

    /// <summary>A folder holding a complete checkpoint, given when the agent is started to resume.</summary>
    public const string RestoreDirVariable = "SCHEDULER_RESTORE_DIR";

    /// <summary>Written by the agent once its SIGUSR1 handler is installed: until then the signal would kill it.</summary>
    public const string ReadyFile = ".ready";

    /// <summary>Written by the worker before the signal: "SEQUENCE MODE\n".</summary>
    public const string RequestFile = ".request";

    /// <summary>Renamed into place by the agent once the state is written: "SEQUENCE\n".</summary>
    public const string CompleteFile = "COMPLETE";

    /// <summary>SIGUSR1 on Linux.</summary>
    public const int RequestSignal = 10;

    public static string ToWire(this CheckpointMode mode) => mode == CheckpointMode.Final ? "final" : "live";

    public static bool IsCheckpointFile(string relativePath) =>
        !relativePath.Split(Path.DirectorySeparatorChar).Any(segment => segment.StartsWith('.'));
}
