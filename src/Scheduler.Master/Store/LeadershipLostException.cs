namespace Scheduler.Master.Store;

/// <summary>
/// A fenced write was refused because this master's leader key is gone or belongs to a newer
/// term: nothing was stored, and this master must stop acting as leader (not retry the write).
/// </summary>
internal sealed class LeadershipLostException : Exception
{
    public LeadershipLostException()
    {
    }

    public LeadershipLostException(string message)
        : base(message)
    {
    }

    public LeadershipLostException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
