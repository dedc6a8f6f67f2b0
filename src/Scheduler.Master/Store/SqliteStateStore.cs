using System.Text.Json;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Store;

/// <summary>
/// The embedded default: one SQLite file in the data directory, for a single master with no
/// setup. WAL mode keeps a write (one small transaction per scheduling step) well under a
/// millisecond on local disk, and a crash loses no committed transaction.
/// </summary>
internal sealed class SqliteStateStore : IStateStore
{
    private const string DatabaseFile = "scheduler.db";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly SqliteConnection _connection;
    private readonly string _dataDir;
    private ClusterMarker? _marker;

    private SqliteStateStore(SqliteConnection connection, string dataDir, ClusterMarker? marker)
    {
        _connection = connection;
        _dataDir = dataDir;
        _marker = marker;
    }

    public string Kind => "sqlite";

    /// <summary>
    /// Opens (or creates) the store in <paramref name="dataDir"/>. A folder that held a cluster (its
    /// <c>cluster.json</c> says so) whose database is now missing, empty or corrupt is refused with
    /// what to do, unless <paramref name="forceNew"/>: then a new, empty store starts above the last
    /// epoch the folder recorded, so workers that obeyed it do not ignore the new master.
    /// </summary>
    public static async Task<SqliteStateStore> OpenAsync(string dataDir, bool forceNew, long maxStoreMib, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, DatabaseFile);
        var marker = ClusterMarker.Read(dataDir);
        var hasData = File.Exists(path) && new FileInfo(path).Length > 0;
        if (marker is not null && !hasData)
        {
            if (!forceNew)
            {
                throw new StoreException(
                    $"{Path.GetFullPath(path)} is missing or empty, but this folder held cluster {marker.ClusterId} (epoch {marker.Epoch}, per cluster.json): " +
                    "restore the database from a backup, or start with --force-new-store to begin again with no jobs (the epoch keeps rising)");
            }

            // A write-ahead log without its database must not be replayed into a new one.
            File.Delete(path + "-wal");
            File.Delete(path + "-shm");
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        var store = new SqliteStateStore(connection, dataDir, marker);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await store.ExecuteAsync(
                """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                PRAGMA busy_timeout = 5000;
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS jobs (
                    id TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    request_id TEXT NOT NULL UNIQUE,
                    spec BLOB NOT NULL,
                    status TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, data TEXT NOT NULL);
                """,
                cancellationToken);
            var check = await store.ScalarAsync("PRAGMA quick_check", cancellationToken) as string;
            if (check != "ok")
            {
                throw new StoreException($"{Path.GetFullPath(path)} is corrupt ({check}): restore it from a backup, or move it away and start with --force-new-store");
            }

            if (marker is not null && !forceNew && await store.ScalarAsync("SELECT value FROM meta WHERE key = 'epoch'", cancellationToken) is null)
            {
                throw new StoreException(
                    $"{Path.GetFullPath(path)} holds no cluster, but this folder held cluster {marker.ClusterId} (epoch {marker.Epoch}, per cluster.json): " +
                    "restore the database from a backup, or start with --force-new-store to begin again with no jobs (the epoch keeps rising)");
            }

            if (maxStoreMib > 0)
            {
                var pageSize = (long)(await store.ScalarAsync("PRAGMA page_size", cancellationToken))!;
                await store.ExecuteAsync($"PRAGMA max_page_count = {maxStoreMib * 1024 * 1024 / pageSize}", cancellationToken);
            }
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync();
            throw new StoreException(
                $"{Path.GetFullPath(path)} cannot be opened (SQLite error {ex.SqliteErrorCode}: {ex.Message}): restore it from a backup, or move it away and start with --force-new-store", ex);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return store;
    }

    public async Task<long> BeginTermAsync(CancellationToken cancellationToken)
    {
        var stored = await ScalarAsync("SELECT value FROM meta WHERE key = 'epoch'", cancellationToken) as long? ?? 0;
        return await RaiseEpochAsync(Math.Max(stored, _marker?.Epoch ?? 0) + 1, cancellationToken);
    }

    public async Task<long> RaiseEpochAsync(long atLeast, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText =
            """
            INSERT INTO meta (key, value) VALUES ('epoch', $epoch)
            ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
            RETURNING value;
            """;
        cmd.Parameters.AddWithValue("$epoch", atLeast);
        var epoch = (long)(await WriteAsync(() => cmd.ExecuteScalarAsync(cancellationToken)))!;

        // Kept outside the database, so losing the database cannot take the epoch back.
        _marker = new ClusterMarker(_marker?.ClusterId ?? Guid.NewGuid().ToString("N")[..12], epoch);
        _marker.Write(_dataDir);
        return epoch;
    }

    public async Task<StoredState> LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await LoadRowsAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw new StoreException($"{DatabaseFile} in {Path.GetFullPath(_dataDir)} cannot be read (SQLite error {ex.SqliteErrorCode}: {ex.Message}): restore it from a backup", ex);
        }
    }

    private async Task<StoredState> LoadRowsAsync(CancellationToken cancellationToken)
    {
        var jobs = new List<JobRecord>();
        await using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = "SELECT id, seq, request_id, spec, status FROM jobs ORDER BY seq";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var id = reader.IsDBNull(0) ? "(no id)" : reader.GetValue(0).ToString();
                try
                {
                    var spec = JobSpec.Parser.ParseFrom((byte[])reader.GetValue(3));
                    var status = JsonSerializer.Deserialize(reader.GetString(4), StoreJson.Default.JobStatusRow)
                        ?? throw new JsonException("the status is null");
                    jobs.Add(status.ToRecord(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), spec));
                }
                catch (Exception ex) when (ex is InvalidProtocolBufferException or JsonException or InvalidCastException or FormatException or NotSupportedException)
                {
                    throw new StoreException($"job {id} in {DatabaseFile} cannot be read ({ex.Message}): fix or delete that row, or restore the database from a backup", ex);
                }
            }
        }

        var nodes = new List<NodeRecord>();
        await using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = "SELECT id, data FROM nodes ORDER BY id";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                try
                {
                    nodes.Add(JsonSerializer.Deserialize<NodeRecord>(reader.GetString(1), Json) ?? throw new JsonException("the record is null"));
                }
                catch (Exception ex) when (ex is JsonException or InvalidCastException or NotSupportedException)
                {
                    throw new StoreException($"node {reader.GetValue(0)} in {DatabaseFile} cannot be read ({ex.Message}): delete that row (the worker registers again), or restore the database from a backup", ex);
                }
            }
        }

        return new StoredState(jobs, nodes);
    }

    public Task SaveJobsAsync(IReadOnlyCollection<JobRecord> jobs, CancellationToken cancellationToken) =>
        SaveAsync(jobs, [], cancellationToken);

    public async Task SaveAsync(IReadOnlyCollection<JobRecord> jobs, IReadOnlyCollection<NodeRecord> nodes, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0 && nodes.Count == 0)
        {
            return;
        }

        await WriteAsync(() => SaveCoreAsync(jobs, nodes, cancellationToken));
    }

    private async Task<bool> SaveCoreAsync(IReadOnlyCollection<JobRecord> jobs, IReadOnlyCollection<NodeRecord> nodes, CancellationToken cancellationToken)
    {
        await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
        if (nodes.Count > 0)
        {
            await using var nodeCmd = _connection.CreateCommand();
            nodeCmd.Transaction = tx;
            nodeCmd.CommandText = "INSERT INTO nodes (id, data) VALUES ($id, $data) ON CONFLICT (id) DO UPDATE SET data = excluded.data";
            var nodeId = nodeCmd.Parameters.Add("$id", SqliteType.Text);
            var data = nodeCmd.Parameters.Add("$data", SqliteType.Text);
            foreach (var node in nodes)
            {
                nodeId.Value = node.Id;
                data.Value = JsonSerializer.Serialize(node, Json);
                await nodeCmd.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await using var cmd = _connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText =
            """
            INSERT INTO jobs (id, seq, request_id, spec, status) VALUES ($id, $seq, $rid, $spec, $status)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status;
            """;
        var id = cmd.Parameters.Add("$id", SqliteType.Text);
        var seq = cmd.Parameters.Add("$seq", SqliteType.Integer);
        var rid = cmd.Parameters.Add("$rid", SqliteType.Text);
        var spec = cmd.Parameters.Add("$spec", SqliteType.Blob);
        var status = cmd.Parameters.Add("$status", SqliteType.Text);
        foreach (var job in jobs)
        {
            id.Value = job.Id;
            seq.Value = job.Sequence;
            rid.Value = job.RequestId;
            spec.Value = job.Spec.ToByteArray();
            status.Value = JsonSerializer.Serialize(JobStatusRow.From(job), StoreJson.Default.JobStatusRow);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return true;
    }

    public async Task DeleteJobsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return;
        }

        await WriteAsync(async () =>
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            await using var cmd = _connection.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM jobs WHERE id = $id";
            var id = cmd.Parameters.Add("$id", SqliteType.Text);
            foreach (var jobId in ids)
            {
                id.Value = jobId;
                await cmd.ExecuteNonQueryAsync(cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
            return true;
        });
    }

    public async Task SaveNodeAsync(NodeRecord node, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText = "INSERT INTO nodes (id, data) VALUES ($id, $data) ON CONFLICT (id) DO UPDATE SET data = excluded.data";
        cmd.Parameters.AddWithValue("$id", node.Id);
        cmd.Parameters.AddWithValue("$data", JsonSerializer.Serialize(node, Json));
        await WriteAsync(() => cmd.ExecuteNonQueryAsync(cancellationToken));
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<object?> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        return await cmd.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>A write the disk refused is the host's problem, not the request's: callers may retry it.</summary>
    private static async Task<T> WriteAsync<T>(Func<Task<T>> write)
    {
        try
        {
            return await write();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteFull or SqliteIoError or SqliteBusy or SqliteReadOnly)
        {
            var why = ex.SqliteErrorCode switch
            {
                SqliteFull => "its disk is full (or the store reached --max-store-mib)",
                SqliteIoError => "of an I/O error",
                SqliteBusy => "the database is locked",
                _ => "the database is read-only",
            };
            throw new StoreUnavailableException($"the master cannot write its store because {why} (SQLite error {ex.SqliteErrorCode}); nothing was stored", ex);
        }
    }

    private const int SqliteBusy = 5;
    private const int SqliteReadOnly = 8;
    private const int SqliteIoError = 10;
    private const int SqliteFull = 13;
}
