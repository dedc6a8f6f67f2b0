namespace Scheduler.Worker.Checkpoints;

internal enum CheckpointMode
{
    /// <summary>The agent writes its state and keeps running: a pre-copy round or a periodic checkpoint.</summary>
    Live,

    /// <summary>The agent writes its state and changes nothing afterwards; the worker then stops it.</summary>
    Final,
}
