using Scheduler.Master.Security;

namespace Scheduler.Master.Tests.Security;

[TestFixture]
public sealed class TokenSecretTests
{
    [Test]
    public void A_generated_bearer_parses_back_to_its_id_and_matches_its_hash_only()
    {
        var (id, bearer, hash) = TokenSecret.Generate();
        Assert.That(TokenSecret.TryParse(bearer, out var parsedId, out var secret), Is.True);
        Assert.That(parsedId, Is.EqualTo(id));
        Assert.That(TokenSecret.Matches(secret, hash), Is.True);
        Assert.That(TokenSecret.Matches(secret + "x", hash), Is.False);
        Assert.That(hash, Has.Length.EqualTo(64).And.Not.Contains(secret));
    }

    [Test]
    public void Secrets_carry_256_random_bits()
    {
        var (_, bearer, _) = TokenSecret.Generate();
        Assert.That(TokenSecret.TryParse(bearer, out _, out var secret), Is.True);
        Assert.That(secret, Has.Length.EqualTo(43));
        Assert.That(TokenSecret.Generate().Bearer, Is.Not.EqualTo(bearer));
    }

    [TestCase("")]
    [TestCase("tk-abc")]
    [TestCase("tk-.secret")]
    [TestCase("tk-abc.")]
    [TestCase("xx-abc.secret")]
    public void Malformed_bearers_do_not_parse(string bearer)
    {
        Assert.That(TokenSecret.TryParse(bearer, out _, out _), Is.False);
    }
}
