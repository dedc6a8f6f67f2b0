namespace Scheduler.Worker.Agents;

/// <summary>The agent cannot be started as asked; the message is reported to the user as is.</summary>
internal sealed class AgentStartException : Exception
{
    public AgentStartException()
    {
    }

    public AgentStartException(string message)
        : base(message)
    {
    }

    public AgentStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
