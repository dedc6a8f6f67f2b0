namespace Scheduler.Master.Leadership;

/// <summary>The embedded default: one master on its own store leads as soon as it starts, forever.</summary>
internal sealed class SingleMasterElection : ILeaderElection
{
    private LeaderRecord? _leader;

    public LeaderRecord? Leader => Volatile.Read(ref _leader);

    public Task<ILeaderLease> CampaignAsync(CancellationToken cancellationToken) =>
        Task.FromResult<ILeaderLease>(new Lease(this));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Lease(SingleMasterElection election) : ILeaderLease
    {
        public CancellationToken Lost => CancellationToken.None;

        public bool IsValid => true;

        public Store.EtcdFence? Fence => null;

        public Task PublishAsync(LeaderRecord leader, CancellationToken cancellationToken)
        {
            Volatile.Write(ref election._leader, leader);
            return Task.CompletedTask;
        }

        public Task ResignAsync(CancellationToken cancellationToken)
        {
            Volatile.Write(ref election._leader, null);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
