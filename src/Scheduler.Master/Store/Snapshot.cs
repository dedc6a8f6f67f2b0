using System.Text.Json;
using Google.Protobuf;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Store;

/// <summary>
/// A backup of the whole cluster state: every job (identity, spec, status) and node record and the
/// epoch, as one JSON document in the stores' own row formats, so it restores into either store.
/// </summary>
internal sealed record Snapshot(IReadOnlyList<JobRecord> Jobs, IReadOnlyList<NodeRecord> Nodes, long Epoch, DateTimeOffset TakenAt, string Store)
{
    public const string Format = "scheduler-snapshot/1";

    /// <summary>Bound on a document accepted for restore.</summary>
    public const long MaxBytes = 1L << 30;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public void WriteTo(Stream stream)
    {
        var document = new Document(
            Format,
            TakenAt,
            Store,
            Epoch,
            [.. Jobs.OrderBy(j => j.Sequence).Select(j => new JobRow(j.Id, j.Sequence, j.RequestId, j.Spec.ToByteArray(), JobStatusRow.From(j)))],
            [.. Nodes.OrderBy(n => n.Id, StringComparer.Ordinal)]);
        JsonSerializer.Serialize(stream, document, Json);
    }

    /// <summary>Reads and checks a document; a <see cref="FormatException"/> names what is wrong.</summary>
    public static Snapshot ReadFrom(Stream stream)
    {
        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(stream, Json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"snapshot: not a snapshot document ({ex.Message})", ex);
        }

        if (document is null || document.Format != Format)
        {
            throw new FormatException($"snapshot: format must be '{Format}' (got '{document?.Format}')");
        }

        var jobs = new List<JobRecord>(document.Jobs?.Count ?? 0);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var requestIds = new HashSet<string>(StringComparer.Ordinal);
        var sequences = new HashSet<long>();
        foreach (var (row, index) in (document.Jobs ?? []).Select((r, i) => (r, i)))
        {
            var where = $"snapshot: jobs[{index}]";
            if (row is null || string.IsNullOrEmpty(row.Id) || row.Status is null || row.Spec is null || string.IsNullOrEmpty(row.RequestId))
            {
                throw new FormatException($"{where}: id, requestId, spec and status are required");
            }

            if (!ids.Add(row.Id) || !requestIds.Add(row.RequestId) || !sequences.Add(row.Sequence))
            {
                throw new FormatException($"{where}: job '{row.Id}' repeats an id, request id or sequence of an earlier job");
            }

            JobSpec spec;
            try
            {
                spec = JobSpec.Parser.ParseFrom(row.Spec);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new FormatException($"{where}: the spec of job '{row.Id}' does not parse ({ex.Message})", ex);
            }

            jobs.Add(row.Status.ToRecord(row.Id, row.Sequence, row.RequestId, spec));
        }

        var nodes = new List<NodeRecord>();
        var nodeIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (node, index) in (document.Nodes ?? []).Select((n, i) => (n, i)))
        {
            if (node is null || string.IsNullOrEmpty(node.Id) || !nodeIds.Add(node.Id))
            {
                throw new FormatException($"snapshot: nodes[{index}]: a node needs an id, not repeated");
            }

            nodes.Add(node with { Capabilities = node.Capabilities ?? [] });
        }

        return new Snapshot(jobs, nodes, document.Epoch, document.TakenAt, document.Store ?? "");
    }

    private sealed record Document(string Format, DateTimeOffset TakenAt, string? Store, long Epoch, IReadOnlyList<JobRow>? Jobs, IReadOnlyList<NodeRecord>? Nodes);

    private sealed record JobRow(string Id, long Sequence, string RequestId, byte[] Spec, JobStatusRow Status);
}
