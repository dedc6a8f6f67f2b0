namespace Scheduler.Worker.Checkpoints;

internal enum CheckpointFailure
{
    /// <summary>The job did not opt in (JobSpec.checkpointable): it can be restarted, not checkpointed.</summary>
    NotCheckpointable,

    /// <summary>No running agent of that attempt on this worker.</summary>
    NotRunning,

    /// <summary>Another checkpoint of the agent is in progress, or its final one is taken.</summary>
    Busy,

    /// <summary>The agent did not mark the checkpoint complete in time; it is left running.</summary>
    TimedOut,

    /// <summary>The agent exited before it marked the checkpoint complete.</summary>
    AgentExited,
}
