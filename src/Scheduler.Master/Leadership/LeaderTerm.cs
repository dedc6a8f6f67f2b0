namespace Scheduler.Master.Leadership;

/// <summary>
/// One term of leadership: built when this master wins the election, ended when it loses it (its
/// lease lapsed, the store refused a fenced write, or the master stops). Everything the leader
/// does — store writes, commands to workers — happens only while its term is valid.
/// </summary>
internal sealed class LeaderTerm : IDisposable
{
    private readonly CancellationTokenSource _ended = new();
    private readonly ILeaderLease _lease;
    private readonly CancellationTokenRegistration _onLeaseLost;
    private string? _endReason;

    public LeaderTerm(long epoch, DateTimeOffset since, ILeaderLease lease)
    {
        Epoch = epoch;
        Since = since;
        _lease = lease;
        _onLeaseLost = lease.Lost.Register(() => End("its leader lease lapsed (etcd unreachable, or this master was paused past its lease)"));
    }

    /// <summary>The epoch every command of this term carries; workers refuse commands of older terms.</summary>
    public long Epoch { get; }

    public DateTimeOffset Since { get; }

    /// <summary>Cancelled when the term ends, for whatever reason.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Why the term ended; null while it lasts.</summary>
    public string? EndReason => Volatile.Read(ref _endReason);

    /// <summary>
    /// True while the term lasts and its lease is still held by this master's own clock: checked
    /// before every command to a worker, so a master that was paused past its lease never acts on
    /// a decision it made before the pause.
    /// </summary>
    public bool IsValid => !_ended.IsCancellationRequested && _lease.IsValid;

    /// <summary>A term that never ends on its own: the single master on its embedded store.</summary>
    public static LeaderTerm Forever(long epoch, DateTimeOffset since) => new(epoch, since, AlwaysValidLease.Instance);

    /// <summary>Ends the term (idempotent): the first reason given is kept.</summary>
    public void End(string reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, reason, null) is null)
        {
            try
            {
                _ended.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        _onLeaseLost.Dispose();
        _ended.Dispose();
    }

    private sealed class AlwaysValidLease : ILeaderLease
    {
        public static readonly AlwaysValidLease Instance = new();

        public CancellationToken Lost => CancellationToken.None;

        public bool IsValid => true;

        public Store.EtcdFence? Fence => null;

        public Task PublishAsync(LeaderRecord leader, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task ResignAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
