namespace Scheduler.Master.Leadership;

/// <summary>How a master becomes leader: the embedded single master always does; on etcd, one master at a time.</summary>
internal interface ILeaderElection : IAsyncDisposable
{
    /// <summary>Returns once this master leads, with the lease that proves it; retries through store outages until cancelled.</summary>
    Task<ILeaderLease> CampaignAsync(CancellationToken cancellationToken);

    /// <summary>The leader as last seen (this master's own record while it leads); null when none is known.</summary>
    LeaderRecord? Leader { get; }
}

/// <summary>What this master holds while it leads.</summary>
internal interface ILeaderLease : IAsyncDisposable
{
    /// <summary>Cancelled once the lease is gone or can no longer be proven held.</summary>
    CancellationToken Lost { get; }

    /// <summary>True while the lease is held by this master's own monotonic clock (renewed in time).</summary>
    bool IsValid { get; }

    /// <summary>The key every store write of the term is conditional on; null where writes need no fence.</summary>
    Store.EtcdFence? Fence { get; }

    /// <summary>Tells the other masters (and through them clients and workers) who leads, and since when.</summary>
    Task PublishAsync(LeaderRecord leader, CancellationToken cancellationToken);

    /// <summary>Gives leadership up at once (graceful stop), so a standby need not wait for the lease to lapse.</summary>
    Task ResignAsync(CancellationToken cancellationToken);
}

/// <summary>Who leads: what a standby tells clients and workers.</summary>
internal sealed record LeaderRecord(string MasterId, string Address, long Epoch, DateTimeOffset Since);
