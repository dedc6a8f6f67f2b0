namespace Scheduler.Worker.Migration;

/// <summary>A migration cannot go on; the message, naming the agent or the round, goes into the report.</summary>
internal sealed class MigrationFailedException : Exception
{
    public MigrationFailedException()
    {
    }

    public MigrationFailedException(string message)
        : base(message)
    {
    }

    public MigrationFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
