namespace Scheduler.Master.Store;

/// <summary>A bearer token as stored: never its secret, only the secret's SHA-256 (hex).</summary>
internal sealed record TokenRecord
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    /// <summary>admin, operator, submitter or worker.</summary>
    public required string Role { get; init; }

    /// <summary>Submitter tokens: the tenant of every job they touch; empty otherwise.</summary>
    public string Tenant { get; init; } = "";

    public required string SecretHash { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the token was revoked; null while it is valid.</summary>
    public DateTimeOffset? RevokedAt { get; init; }
}
