namespace Scheduler.Master.Store;

/// <summary>
/// The store cannot be used as it is: missing, corrupt, or held by another master. The message is
/// for the operator (what is wrong, where, and what to do) and is printed as the master's last line.
/// </summary>
internal sealed class StoreException : Exception
{
    public StoreException()
    {
    }

    public StoreException(string message)
        : base(message)
    {
    }

    public StoreException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>A write failed for a reason outside the master's control (disk full, I/O error): worth retrying later.</summary>
internal sealed class StoreUnavailableException : Exception
{
    /// <summary>
    /// True when the write may have been applied all the same (etcd did not answer in time: the
    /// transaction may have committed). The master then cannot know what the store holds, so its term
    /// ends and the next one reloads; a retried call is then answered from what was stored.
    /// </summary>
    public bool MayHaveApplied { get; init; }

    public StoreUnavailableException()
    {
    }

    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    public StoreUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
