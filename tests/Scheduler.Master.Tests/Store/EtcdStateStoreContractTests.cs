using dotnet_etcd;
using Scheduler.Master.Store;
using Scheduler.Tests.Common;

namespace Scheduler.Master.Tests.Store;

/// <summary>The store contract on a real single-member etcd, under a fresh key prefix per test.</summary>
[TestFixture]
public sealed class EtcdStateStoreContractTests : StateStoreContractTests
{
    private EtcdCluster _etcd = null!;
    private string _prefix = "";

    [OneTimeSetUp]
    public async Task StartEtcd() => _etcd = await EtcdCluster.StartAsync("contract");

    [OneTimeTearDown]
    public async Task StopEtcd()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }

    [SetUp]
    public void NewPrefix() => _prefix = $"/contract-{Guid.NewGuid():N}/";

    private protected override async Task<IStateStore> OpenStoreAsync(CancellationToken cancellationToken) =>
        await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = _etcd.Endpoints, Prefix = _prefix }, cancellationToken);

    /// <summary>The store is fenced on a leader key that is then deleted: the whole batch is refused.</summary>
    private protected override async Task<Type> MakeBatchFailAsync(IStateStore store, List<JobRecord> batch)
    {
        using var client = new EtcdClient(_etcd.Endpoints);
        var fenceKey = _prefix + "leader";
        var put = await client.PutAsync(fenceKey, "this master", cancellationToken: Token);
        ((EtcdStateStore)store).Fence = new EtcdFence(fenceKey, put.Header.Revision);
        await client.DeleteAsync(fenceKey, cancellationToken: Token);
        return typeof(LeadershipLostException);
    }
}
