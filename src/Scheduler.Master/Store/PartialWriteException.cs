namespace Scheduler.Master.Store;

/// <summary>
/// A write too large for one store transaction (etcd's operation limit) failed after some of its
/// transactions were committed: the store now holds part of it, which memory does not. The term
/// ends so that the next one reloads what the store holds; the callers are told to retry.
/// </summary>
internal sealed class PartialWriteException : Exception
{
    public PartialWriteException()
    {
    }

    public PartialWriteException(string message)
        : base(message)
    {
    }

    public PartialWriteException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
