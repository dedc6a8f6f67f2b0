namespace Scheduler.Worker.Checkpoints;

/// <summary>A checkpoint was refused or did not complete; the message says why, naming the agent.</summary>
internal sealed class CheckpointException : Exception
{
    public CheckpointException(CheckpointFailure failure, string message)
        : base(message)
    {
        Failure = failure;
    }

    public CheckpointException()
    {
    }

    public CheckpointException(string message)
        : base(message)
    {
    }

    public CheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CheckpointFailure Failure { get; }
}
