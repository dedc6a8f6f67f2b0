using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>What the interceptor and the token RPCs rely on, for both stores.</summary>
public abstract class TokenStoreContractTests
{
    private protected static CancellationToken Token => TestContext.CurrentContext.CancellationToken;

    /// <summary>A store over the test's data (a second call opens another view of the same data: another master).</summary>
    private protected abstract Task<ITokenStore> OpenAsync();

    private protected static TokenRecord Sample(string id, string role = "submitter", string tenant = "team-a") => new()
    {
        Id = id,
        Name = "ci of " + tenant,
        Role = role,
        Tenant = tenant,
        SecretHash = new string('a', 64),
        CreatedAt = new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero),
    };

    [Test]
    public async Task A_created_token_is_found_with_every_field()
    {
        var store = await OpenAsync();
        Assert.That(await store.CreateAsync(Sample("tk-1"), Token), Is.True);
        Assert.That(await store.FindAsync("tk-1", Token), Is.EqualTo(Sample("tk-1")));
        Assert.That(await store.FindAsync("tk-2", Token), Is.Null);
    }

    [Test]
    public async Task Creating_an_existing_id_changes_nothing()
    {
        var store = await OpenAsync();
        await store.CreateAsync(Sample("tk-1"), Token);
        Assert.That(await store.CreateAsync(Sample("tk-1", "admin", ""), Token), Is.False);
        Assert.That((await store.FindAsync("tk-1", Token))!.Role, Is.EqualTo("submitter"));
    }

    [Test]
    public async Task A_token_revoked_through_one_master_is_revoked_for_another()
    {
        var first = await OpenAsync();
        var second = await OpenAsync();
        await first.CreateAsync(Sample("tk-1"), Token);
        Assert.That((await second.FindAsync("tk-1", Token))!.RevokedAt, Is.Null);

        var at = new DateTimeOffset(2026, 11, 29, 13, 0, 0, TimeSpan.Zero);
        Assert.That((await first.RevokeAsync("tk-1", at, Token))!.RevokedAt, Is.EqualTo(at));
        Assert.That((await second.FindAsync("tk-1", Token))!.RevokedAt, Is.EqualTo(at));
    }

    [Test]
    public async Task Revoking_twice_keeps_the_first_time_and_an_unknown_id_is_null()
    {
        var store = await OpenAsync();
        await store.CreateAsync(Sample("tk-1"), Token);
        var first = new DateTimeOffset(2026, 11, 29, 13, 0, 0, TimeSpan.Zero);
        await store.RevokeAsync("tk-1", first, Token);
        Assert.That((await store.RevokeAsync("tk-1", first.AddHours(1), Token))!.RevokedAt, Is.EqualTo(first));
        Assert.That(await store.RevokeAsync("tk-9", first, Token), Is.Null);
    }

    [Test]
    public async Task The_list_holds_every_token_oldest_first()
    {
        var store = await OpenAsync();
        await store.CreateAsync(Sample("tk-b") with { CreatedAt = Sample("x").CreatedAt.AddMinutes(1) }, Token);
        await store.CreateAsync(Sample("tk-a", "operator", ""), Token);
        Assert.That((await store.ListAsync(Token)).Select(t => t.Id), Is.EqualTo(new[] { "tk-a", "tk-b" }));
    }
}
