using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>The token contract on a real etcd, each store a separate client as two masters would have.</summary>
[TestFixture]
public sealed class EtcdTokenStoreTests() : EtcdFixtureTokenContract("tokens")
{
}

/// <summary>Runs <see cref="TokenStoreContractTests"/> against one etcd member started for the fixture.</summary>
public abstract class EtcdFixtureTokenContract(string name) : TokenStoreContractTests
{
    private readonly List<EtcdTokenStore> _open = [];
    private Scheduler.Tests.Common.EtcdCluster _etcd = null!;
    private string _prefix = "";

    [OneTimeSetUp]
    public async Task StartEtcd() => _etcd = await Scheduler.Tests.Common.EtcdCluster.StartAsync(name);

    [OneTimeTearDown]
    public async Task StopEtcd()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }

    [SetUp]
    public void NewPrefix() => _prefix = $"/{name}-{Guid.NewGuid():N}/";

    [TearDown]
    public void CloseStores()
    {
        foreach (var store in _open)
        {
            store.Dispose();
        }

        _open.Clear();
    }

    private protected override Task<ITokenStore> OpenAsync()
    {
        var store = new EtcdTokenStore(new EtcdStoreOptions { Endpoints = _etcd.Endpoints, Prefix = _prefix });
        _open.Add(store);
        return Task.FromResult<ITokenStore>(store);
    }

    [Test]
    public async Task The_state_store_still_loads_with_tokens_under_its_prefix()
    {
        var tokens = await OpenAsync();
        await tokens.CreateAsync(Sample("tk-1"), Token);
        await using var state = await EtcdStateStore.OpenAsync(new EtcdStoreOptions { Endpoints = _etcd.Endpoints, Prefix = _prefix }, Token);
        Assert.That((await state.LoadAsync(Token)).Jobs, Is.Empty);
        state.StartFollowing();
        Assert.That((await state.LoadAsync(Token)).Nodes, Is.Empty);
    }
}
