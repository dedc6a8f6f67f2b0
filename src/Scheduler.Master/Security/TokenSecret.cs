using System.Security.Cryptography;
using System.Text;

namespace Scheduler.Master.Security;

/// <summary>
/// A bearer string is <c>ID.SECRET</c>: the id finds the stored record in one key read, the secret
/// (256 random bits) is checked against its SHA-256, so the store never holds anything that
/// authenticates on its own.
/// </summary>
internal static class TokenSecret
{
    public const string IdPrefix = "tk-";

    /// <summary>A fresh id and secret, and the bearer string made of them.</summary>
    public static (string Id, string Bearer, string Hash) Generate()
    {
        var id = IdPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (id, $"{id}.{secret}", Hash(secret));
    }

    /// <summary>Lower-case hex SHA-256 of the secret's UTF-8 bytes.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Splits a bearer string; false for anything not shaped <c>tk-HEX.SECRET</c>.</summary>
    public static bool TryParse(string bearer, out string id, out string secret)
    {
        var dot = bearer.IndexOf('.', StringComparison.Ordinal);
        if (dot <= IdPrefix.Length || dot == bearer.Length - 1 || bearer.Length > 256 || !bearer.StartsWith(IdPrefix, StringComparison.Ordinal))
        {
            id = secret = "";
            return false;
        }

        id = bearer[..dot];
        secret = bearer[(dot + 1)..];
        return true;
    }

    /// <summary>Whether <paramref name="secret"/> hashes to <paramref name="storedHash"/>, in constant time.</summary>
    public static bool Matches(string secret, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(storedHash));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
