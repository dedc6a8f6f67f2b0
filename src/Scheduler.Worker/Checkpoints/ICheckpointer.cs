namespace Scheduler.Worker.Checkpoints;

/// <summary>
/// Takes one checkpoint of a running agent into the request's folder. The application-level one
/// asks the agent itself; a transparent one (cuda-checkpoint with CRIU) could dump the process
/// instead where the kernel allows it.
/// </summary>
internal interface ICheckpointer
{
    string Name { get; }

    /// <summary>Completes once the folder holds a complete checkpoint; throws <see cref="CheckpointException"/> otherwise.</summary>
    Task<CheckpointResult> CheckpointAsync(CheckpointRequest request, CancellationToken ct);
}
