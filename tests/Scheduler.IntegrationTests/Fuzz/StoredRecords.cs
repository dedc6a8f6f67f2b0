using System.Text.Json;
using Microsoft.Data.Sqlite;
using Scheduler.Contracts.V1;

namespace Scheduler.IntegrationTests.Fuzz;

/// <summary>
/// Reads back everything a master holds, through its API and straight from its SQLite file, and
/// says what is wrong with each record: after hostile input nothing may be half-written.
/// </summary>
internal static class StoredRecords
{
    /// <summary>Every job, page by page, as the API lists it.</summary>
    public static async Task<List<Job>> ListAllJobsAsync(ClusterApi api)
    {
        var jobs = new List<Job>();
        var token = "";
        do
        {
            var page = await api.Jobs.ListAsync(new ListJobsRequest { PageSize = 1000, PageToken = token }, deadline: DateTime.UtcNow.AddSeconds(30));
            jobs.AddRange(page.Jobs);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return jobs;
    }

    /// <summary>What is wrong with <paramref name="job"/> as the API shows it; empty when nothing is.</summary>
    public static IEnumerable<string> ProblemsOf(Job job)
    {
        var where = $"job '{job.Id}'";
        if (job.Id.Length == 0)
        {
            yield return "a job without an id";
        }

        if (job.RequestId.Length is 0 or > 128)
        {
            yield return $"{where}: request_id '{job.RequestId}'";
        }

        if (job.State == JobState.Unspecified || !Enum.IsDefined(job.State))
        {
            yield return $"{where}: state {job.State}";
        }

        if (job.CreatedAt is null)
        {
            yield return $"{where}: no created_at";
        }

        if (job.Spec is not { } spec)
        {
            yield return $"{where}: no spec";
            yield break;
        }

        foreach (var problem in ProblemsOf(spec))
        {
            yield return $"{where}: {problem}";
        }
    }

    /// <summary>The invariants every stored spec keeps (the submit validator's main rules).</summary>
    public static IEnumerable<string> ProblemsOf(JobSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.Command) || spec.Command.Contains('\0', StringComparison.Ordinal))
        {
            yield return $"spec.command '{spec.Command}'";
        }

        if (spec.Resources is not { } r || r.CpuMillis < 0 || r.MemoryMib < 0 || r.CpuMillis + r.MemoryMib == 0 || r.Gpus < 0 || r.GpuMilli is < 0 or >= 1000)
        {
            yield return $"spec.resources {spec.Resources}";
        }

        if (spec.Priority is < 0 or > 1000 || spec.Replicas is < 0 or > 1)
        {
            yield return $"spec.priority {spec.Priority} / replicas {spec.Replicas}";
        }

        if (spec.Args.Any(a => a.Contains('\0', StringComparison.Ordinal)) || spec.Env.Keys.Any(k => k.Length == 0 || k.Contains('=', StringComparison.Ordinal)))
        {
            yield return "spec.args or spec.env holds what validation refuses";
        }
    }

    /// <summary>What is wrong with <paramref name="node"/> as the API shows it; empty when nothing is.</summary>
    public static IEnumerable<string> ProblemsOf(Node node)
    {
        if (node.Id.Length is 0 or > 253)
        {
            yield return $"node id '{node.Id}'";
        }

        if (node.Capacity is not { } c || c.CpuMillis <= 0 || c.MemoryMib <= 0 || c.Gpus < 0)
        {
            yield return $"node '{node.Id}': capacity {node.Capacity}";
        }

        if (node.Health == NodeHealth.Unspecified || !Enum.IsDefined(node.Health))
        {
            yield return $"node '{node.Id}': health {node.Health}";
        }
    }

    /// <summary>
    /// Reads the stopped master's SQLite file row by row: every job's spec must parse and hold the
    /// invariants, every status and node row must be a JSON document. Returns the rows' job ids.
    /// </summary>
    public static (HashSet<string> JobIds, int Nodes, List<string> Problems) ReadDatabase(string dataDir)
    {
        var problems = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var nodes = 0;
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDir, "scheduler.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, request_id, spec, status FROM jobs";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var id = reader.GetString(0);
                ids.Add(id);
                try
                {
                    var spec = JobSpec.Parser.ParseFrom((byte[])reader.GetValue(2));
                    problems.AddRange(ProblemsOf(spec).Select(p => $"row {id}: {p}"));
                    using var status = JsonDocument.Parse(reader.GetString(3));
                }
                catch (Exception ex) when (ex is Google.Protobuf.InvalidProtocolBufferException or JsonException)
                {
                    problems.Add($"row {id}: {ex.Message}");
                }
            }
        }

        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, data FROM nodes";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                nodes++;
                try
                {
                    using var data = JsonDocument.Parse(reader.GetString(1));
                }
                catch (JsonException ex)
                {
                    problems.Add($"node row {reader.GetString(0)}: {ex.Message}");
                }
            }
        }

        return (ids, nodes, problems);
    }
}
