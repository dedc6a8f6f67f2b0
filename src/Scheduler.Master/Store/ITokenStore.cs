namespace Scheduler.Master.Store;

/// <summary>
/// The token table, in the same store as the jobs so every master sees it. Not part of a leader
/// term: any master reads it on every authenticated call (so a revocation counts from the next
/// call on, everywhere) and an admin's change is written by whichever master took the call.
/// </summary>
internal interface ITokenStore
{
    /// <summary>The token with this id, revoked or not; null when there is none.</summary>
    Task<TokenRecord?> FindAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Stores the token unless one with its id exists; false (nothing written) when it does.</summary>
    Task<bool> CreateAsync(TokenRecord token, CancellationToken cancellationToken);

    /// <summary>Marks the token revoked at <paramref name="at"/> (kept if already revoked); null when there is none.</summary>
    Task<TokenRecord?> RevokeAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);
}
