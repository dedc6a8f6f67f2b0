using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>The token contract on the master's SQLite file, beside a live state store.</summary>
[TestFixture]
public sealed class SqliteTokenStoreTests : TokenStoreContractTests
{
    private readonly List<IAsyncDisposable> _open = [];
    private string _dataDir = "";

    [SetUp]
    public async Task CreateFolder()
    {
        _dataDir = Path.Combine(Path.GetTempPath(), "scheduler-master-tests", Guid.NewGuid().ToString("N"));
        _open.Add(await SqliteStateStore.OpenAsync(_dataDir, forceNew: false, maxStoreMib: 0, Token));
    }

    [TearDown]
    public async Task DeleteFolder()
    {
        foreach (var store in _open)
        {
            await store.DisposeAsync();
        }

        _open.Clear();
        Directory.Delete(_dataDir, recursive: true);
    }

    private protected override async Task<ITokenStore> OpenAsync()
    {
        var store = await SqliteTokenStore.OpenAsync(_dataDir, Token);
        _open.Add(store);
        return store;
    }

    [Test]
    public async Task The_state_store_still_loads_with_tokens_beside_it()
    {
        var tokens = await OpenAsync();
        await tokens.CreateAsync(Sample("tk-1"), Token);
        await using var reopened = await SqliteStateStore.OpenAsync(_dataDir, forceNew: false, maxStoreMib: 0, Token);
        Assert.That((await reopened.LoadAsync(Token)).Jobs, Is.Empty);
    }
}
