using Scheduler.Master.Security;
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

    [Test]
    public async Task Masters_starting_together_with_one_missing_bootstrap_file_agree_on_one_admin_token()
    {
        // Two masters of an HA cluster on one host given the same --bootstrap-token-file: once one of
        // them failed to start because the other had just created the file.
        var tokens = await OpenAsync();
        var file = Path.Combine(_dataDir, "shared", "admin.token");
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => BootstrapToken.EnsureAsync(file, tokens, TimeProvider.System, Token))));

        Assert.That(ids.Distinct(), Has.Exactly(1).Items, "every master stored the same token");
        var bearer = (await File.ReadAllTextAsync(file, Token)).Trim();
        Assert.That(TokenSecret.TryParse(bearer, out var id, out _), Is.True, "the file holds one whole token");
        Assert.That(id, Is.EqualTo(ids[0]));
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(file)!), Is.EqualTo(new[] { file }), "no temporary file left behind");
        Assert.That((await tokens.FindAsync(id, Token))!.Role, Is.EqualTo(RoleNames.Admin));
    }
}
