using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Scheduler.Master.Store;

/// <summary>
/// The token table in the master's SQLite database, on a connection of its own: calls are
/// authenticated on gRPC threads while the scheduling loop writes on the store's connection, and
/// WAL lets this one read meanwhile. One call at a time on this connection.
/// </summary>
internal sealed class SqliteTokenStore : ITokenStore, IAsyncDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private SqliteTokenStore(SqliteConnection connection) => _connection = connection;

    public static async Task<SqliteTokenStore> OpenAsync(string dataDir, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, "scheduler.db"),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        await connection.OpenAsync(cancellationToken);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText =
            """
            PRAGMA busy_timeout = 5000;
            CREATE TABLE IF NOT EXISTS tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                tenant TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT);
            """;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        return new SqliteTokenStore(connection);
    }

    public async Task<TokenRecord?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync("SELECT id, name, role, tenant, secret_hash, created_at, revoked_at FROM tokens WHERE id = $id", id, cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    public Task<IReadOnlyList<TokenRecord>> ListAsync(CancellationToken cancellationToken) =>
        QueryAsync("SELECT id, name, role, tenant, secret_hash, created_at, revoked_at FROM tokens ORDER BY created_at, id", null, cancellationToken);

    public async Task<bool> CreateAsync(TokenRecord token, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var cmd = _connection.CreateCommand();
            cmd.CommandText =
                """
                INSERT INTO tokens (id, name, role, tenant, secret_hash, created_at, revoked_at)
                VALUES ($id, $name, $role, $tenant, $hash, $created, NULL) ON CONFLICT (id) DO NOTHING;
                """;
            cmd.Parameters.AddWithValue("$id", token.Id);
            cmd.Parameters.AddWithValue("$name", token.Name);
            cmd.Parameters.AddWithValue("$role", token.Role);
            cmd.Parameters.AddWithValue("$tenant", token.Tenant);
            cmd.Parameters.AddWithValue("$hash", token.SecretHash);
            cmd.Parameters.AddWithValue("$created", Format(token.CreatedAt));
            return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<TokenRecord?> RevokeAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var cmd = _connection.CreateCommand();
            cmd.CommandText = "UPDATE tokens SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL";
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$at", Format(at));
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }

        return await FindAsync(id, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        _gate.Dispose();
    }

    private async Task<IReadOnlyList<TokenRecord>> QueryAsync(string sql, string? id, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var cmd = _connection.CreateCommand();
            cmd.CommandText = sql;
            if (id is not null)
            {
                cmd.Parameters.AddWithValue("$id", id);
            }

            var rows = new List<TokenRecord>();
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new TokenRecord
                {
                    Id = reader.GetString(0),
                    Name = reader.GetString(1),
                    Role = reader.GetString(2),
                    Tenant = reader.GetString(3),
                    SecretHash = reader.GetString(4),
                    CreatedAt = Parse(reader.GetString(5)),
                    RevokedAt = reader.IsDBNull(6) ? null : Parse(reader.GetString(6)),
                });
            }

            return rows;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string Format(DateTimeOffset at) => at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
