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
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly SqliteConnection _connection;

    private SqliteStateStore(SqliteConnection connection) => _connection = connection;

    public string Kind => "sqlite";

    public static async Task<SqliteStateStore> OpenAsync(string dataDir, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, "scheduler.db");
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        await connection.OpenAsync(cancellationToken);
        var store = new SqliteStateStore(connection);
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
        return store;
    }

    public async Task<long> BeginTermAsync(CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText =
            """
            INSERT INTO meta (key, value) VALUES ('epoch', 1)
            ON CONFLICT (key) DO UPDATE SET value = value + 1
            RETURNING value;
            """;
        return (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<StoredState> LoadAsync(CancellationToken cancellationToken)
    {
        var jobs = new List<JobRecord>();
        await using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = "SELECT id, seq, request_id, spec, status FROM jobs ORDER BY seq";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var spec = JobSpec.Parser.ParseFrom((byte[])reader.GetValue(3));
                var status = JsonSerializer.Deserialize<JobStatusRow>(reader.GetString(4), Json)!;
                jobs.Add(status.ToRecord(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), spec));
            }
        }

        var nodes = new List<NodeRecord>();
        await using (var cmd = _connection.CreateCommand())
        {
            cmd.CommandText = "SELECT data FROM nodes ORDER BY id";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                nodes.Add(JsonSerializer.Deserialize<NodeRecord>(reader.GetString(0), Json)!);
            }
        }

        return new StoredState(jobs, nodes);
    }

    public async Task SaveJobsAsync(IReadOnlyCollection<JobRecord> jobs, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
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
            status.Value = JsonSerializer.Serialize(JobStatusRow.From(job), Json);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    public async Task SaveNodeAsync(NodeRecord node, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText = "INSERT INTO nodes (id, data) VALUES ($id, $data) ON CONFLICT (id) DO UPDATE SET data = excluded.data";
        cmd.Parameters.AddWithValue("$id", node.Id);
        cmd.Parameters.AddWithValue("$data", JsonSerializer.Serialize(node, Json));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var cmd = _connection.CreateCommand();
        cmd.CommandText = sql;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The mutable part of a job, as stored beside its immutable spec.</summary>
    private sealed record JobStatusRow(
        JobState State,
        int Attempt,
        string? NodeId,
        IReadOnlyList<GpuShare> GpuShares,
        IReadOnlyList<string> GpuUuids,
        int? ExitCode,
        string Message,
        int Requeues,
        bool RequeueOnExit,
        bool HoldsAllocation,
        DateTimeOffset CreatedAt,
        DateTimeOffset UpdatedAt,
        DateTimeOffset? StartedAt,
        DateTimeOffset? FinishedAt,
        IReadOnlyList<string>? AttemptNodes = null)
    {
        public static JobStatusRow From(JobRecord j) => new(
            j.State, j.Attempt, j.NodeId, j.GpuShares, j.GpuUuids, j.ExitCode, j.Message, j.Requeues,
            j.RequeueOnExit, j.HoldsAllocation, j.CreatedAt, j.UpdatedAt, j.StartedAt, j.FinishedAt, j.AttemptNodes);

        public JobRecord ToRecord(string id, long seq, string requestId, JobSpec spec) => new()
        {
            Id = id,
            Sequence = seq,
            RequestId = requestId,
            Spec = spec,
            State = State,
            Attempt = Attempt,
            NodeId = NodeId,
            GpuShares = GpuShares,
            GpuUuids = GpuUuids,
            ExitCode = ExitCode,
            Message = Message,
            Requeues = Requeues,
            RequeueOnExit = RequeueOnExit,
            HoldsAllocation = HoldsAllocation,
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            StartedAt = StartedAt,
            FinishedAt = FinishedAt,
            AttemptNodes = AttemptNodes ?? [],
        };
    }
}
