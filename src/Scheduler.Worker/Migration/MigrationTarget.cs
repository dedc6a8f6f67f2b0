using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Migration;

/// <summary>
/// The receiving end of a migration on this worker: lets a source in (ExpectMigration), throws away
/// what it sent when the master rolls the migration back (CancelMigration), and resolves the restore
/// folder a start names (StartAgent.restore_migration). The transfer itself is the
/// CheckpointTransfer service's.
/// </summary>
internal sealed partial class MigrationTarget
{
    public const int DefaultTtlSeconds = 600;

    private readonly TransferAuthorizations _authorizations;
    private readonly IncomingMigrations _incoming;
    private readonly AgentSupervisor _agents;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public MigrationTarget(TransferAuthorizations authorizations, IncomingMigrations incoming, AgentSupervisor agents, TimeProvider time, ILogger logger)
    {
        _authorizations = authorizations;
        _incoming = incoming;
        _agents = agents;
        _time = time;
        _logger = logger;
    }

    /// <summary>Allows the migration's transfer; the error naming the field when the command is unusable, else null.</summary>
    public string? Expect(ExpectMigration expect)
    {
        var error = !MigrationIds.IsValid(expect.MigrationId) ? $"migration_id: '{expect.MigrationId}' is not one path component of letters, digits, '.', '_' or '-'"
            : expect.Token.Length == 0 ? "token: required"
            : expect.MaxBytes <= 0 ? "max_bytes: must be positive"
            : null;
        if (error is not null)
        {
            LogExpectRefused(expect.MigrationId, error);
            return error;
        }

        var ttl = TimeSpan.FromSeconds(expect.TtlS > 0 ? expect.TtlS : DefaultTtlSeconds);
        _authorizations.Allow(expect.MigrationId, expect.Token, expect.MaxBytes, _time.GetUtcNow() + ttl);
        LogExpecting(expect.MigrationId, expect.MaxBytes, (long)ttl.TotalSeconds);
        return null;
    }

    /// <summary>
    /// Withdraws the token and deletes the staged chunks and the committed checkpoint, unless an
    /// agent has already been started from it (then it is that agent's until it ends).
    /// </summary>
    public void Cancel(CancelMigration cancel)
    {
        var id = cancel.MigrationId;
        if (!MigrationIds.IsValid(id))
        {
            LogCancelIgnored(id);
            return;
        }

        _authorizations.Revoke(id);
        _incoming.Remove(id);

        // A store left by an earlier process of this worker is on disk but not in the registry.
        DeleteDirectory(Path.Combine(_incoming.StoreRoot, id));
        var restore = RestoreDirectory(id);
        var kept = _agents.IsRestoringFrom(restore);
        if (!kept)
        {
            DeleteDirectory(restore);
        }

        LogCancelled(id, kept);
    }

    /// <summary>Where a commit of <paramref name="migrationId"/> lands; the migration id must be valid.</summary>
    public string RestoreDirectory(string migrationId) => Path.Combine(_incoming.RestoreRoot, migrationId);

    /// <summary>How to start an agent that resumes from the migration's committed checkpoint; null (and why) when the id is unusable.</summary>
    public CheckpointStart? RestoreStart(string migrationId, out string error)
    {
        if (!MigrationIds.IsValid(migrationId))
        {
            error = $"restore_migration: '{migrationId}' is not a valid migration id";
            return null;
        }

        // Existence and completeness are checked by the supervisor as it starts the agent.
        error = "";
        return new CheckpointStart(RestoreDirectory(migrationId), $"migration {migrationId}");
    }

    private static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    [LoggerMessage(60, LogLevel.Information, "Expecting migration {MigrationId}: at most {MaxBytes} bytes within {TtlSeconds} s")]
    private partial void LogExpecting(string migrationId, long maxBytes, long ttlSeconds);

    [LoggerMessage(61, LogLevel.Warning, "Refused to expect migration '{MigrationId}': {Error}")]
    private partial void LogExpectRefused(string migrationId, string error);

    [LoggerMessage(62, LogLevel.Information, "Migration {MigrationId} cancelled: token revoked, staged chunks deleted, restore folder kept for a running agent: {Kept}")]
    private partial void LogCancelled(string migrationId, bool kept);

    [LoggerMessage(63, LogLevel.Warning, "Ignored the cancellation of '{MigrationId}': not a valid migration id")]
    private partial void LogCancelIgnored(string migrationId);
}
