namespace Scheduler.Master.Store;

/// <summary>
/// The leader key of the current term and the revision that created it. A write fenced by it
/// commits only while that very key still exists: once the lease behind it expires or another
/// master's key replaces it, the create revision differs and the write is refused.
/// </summary>
internal sealed record EtcdFence(string Key, long CreateRevision);
