using Scheduler.Master.Leadership;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>A leader lease the test holds the strings of: it can be made to lapse (as a paused master's would).</summary>
internal sealed class TestLease : ILeaderLease
{
    private readonly CancellationTokenSource _lost = new();
    private volatile bool _valid = true;

    public CancellationToken Lost => _lost.Token;

    public bool IsValid => _valid;

    public EtcdFence? Fence => null;

    public List<LeaderRecord> Published { get; } = [];

    /// <summary>The lease is past its TTL by this master's clock, but the loss has not been noticed yet.</summary>
    public void Expire() => _valid = false;

    /// <summary>The keep-alive noticed the loss.</summary>
    public void Lose()
    {
        _valid = false;
        _lost.Cancel();
    }

    public Task PublishAsync(LeaderRecord leader, CancellationToken cancellationToken)
    {
        Published.Add(leader);
        return Task.CompletedTask;
    }

    public Task ResignAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        _lost.Dispose();
        return ValueTask.CompletedTask;
    }
}
