using System.Text;
using System.Text.Json;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// The tokens in a snapshot document: a top-level <c>tokens</c> array beside the jobs and nodes, each
/// as the store keeps it (id, name, role, tenant, the secret's SHA-256, created and revoked times;
/// never a secret), so a master restored from a snapshot keeps its credentials and its revocations.
/// Older snapshots without the array restore no tokens.
/// </summary>
internal static class SnapshotTokens
{
    public const string Property = "tokens";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { RespectNullableAnnotations = true };

    /// <summary>Adds <paramref name="tokens"/> to the JSON object that <paramref name="document"/> holds (its last byte is the object's closing brace).</summary>
    public static void Append(MemoryStream document, IReadOnlyList<TokenRecord> tokens)
    {
        if (document.Length == 0 || document.GetBuffer()[document.Length - 1] != (byte)'}')
        {
            throw new InvalidOperationException("a snapshot document ends with its object's closing brace");
        }

        document.SetLength(document.Length - 1);
        document.Position = document.Length;
        document.Write(Encoding.UTF8.GetBytes($",\"{Property}\":"));
        JsonSerializer.Serialize(document, tokens.OrderBy(t => t.Id, StringComparer.Ordinal).ToArray(), Json);
        document.WriteByte((byte)'}');
    }

    /// <summary>The document's tokens, each checked; a <see cref="FormatException"/> names the entry and field.</summary>
    public static IReadOnlyList<TokenRecord> Read(ReadOnlySpan<byte> document)
    {
        TokenRecord[]? tokens = null;
        try
        {
            var reader = new Utf8JsonReader(document);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return [];
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isTokens = reader.ValueTextEquals(Property);
                reader.Read();
                if (isTokens)
                {
                    tokens = JsonSerializer.Deserialize<TokenRecord[]>(ref reader, Json);
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException ex)
        {
            throw new FormatException($"snapshot: {Property}: {ex.Message}", ex);
        }

        tokens ??= [];
        for (var i = 0; i < tokens.Length; i++)
        {
            if (Invalid(tokens[i]) is { } problem)
            {
                throw new FormatException($"snapshot: {Property}[{i}].{problem}");
            }
        }

        var repeated = tokens.GroupBy(t => t.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return repeated is null ? tokens : throw new FormatException($"snapshot: {Property}: id '{repeated.Key}' appears twice");
    }

    private static string? Invalid(TokenRecord? token)
    {
        if (token is null)
        {
            return "id: missing (null entry)";
        }

        if (!token.Id.StartsWith(TokenSecret.IdPrefix, StringComparison.Ordinal) || token.Id.Length > 64 || token.Id.Contains('.', StringComparison.Ordinal))
        {
            return $"id: '{token.Id[..Math.Min(token.Id.Length, 64)]}' is not a token id (tk-HEX)";
        }

        if (token.Name.Length is 0 or > TokenAdministration.MaxNameLength)
        {
            return $"name: 1 to {TokenAdministration.MaxNameLength} characters";
        }

        if (!RoleNames.TryParse(token.Role, out var role))
        {
            return $"role: '{token.Role}' is no role";
        }

        if ((role == Role.Submitter) != (token.Tenant.Length > 0))
        {
            return "tenant: a submitter token has a tenant, the others none";
        }

        return token.SecretHash.Length == 64 && token.SecretHash.All(char.IsAsciiHexDigitLower)
            ? null
            : "secretHash: not a lower-case hex SHA-256";
    }
}
