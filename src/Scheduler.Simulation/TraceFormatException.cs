namespace Scheduler.Simulation;

/// <summary>A trace file that does not follow the expected format; the message names file, line and column.</summary>
public sealed class TraceFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TraceFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TraceFormatException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TraceFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
