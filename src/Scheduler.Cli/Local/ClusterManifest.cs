using System.Text;
using System.Text.Json;

namespace Scheduler.Cli.Local;

/// <summary>One process of a local cluster as `cluster.json` lists it; <see cref="Address"/> is empty for a process that serves nothing.</summary>
internal sealed record ClusterProcess(string Role, string Id, string Address, int Pid);

/// <summary>
/// `cluster.json` in the state folder of `schedctl up --ha`: every process it started, by role, id, address
/// and PID, so a script can find the leader's PID from `schedctl leader -o json` (same id, same address):
/// {"processes":[{"role":"etcd|master|worker","id":"...","address":"http://127.0.0.1:PORT","pid":123}, ...]}.
/// </summary>
internal static class ClusterManifest
{
    public const string FileName = "cluster.json";

    public static string Format(IEnumerable<ClusterProcess> processes)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("processes");
            foreach (var p in processes)
            {
                w.WriteStartObject();
                w.WriteString("role", p.Role);
                w.WriteString("id", p.Id);
                w.WriteString("address", p.Address);
                w.WriteNumber("pid", p.Pid);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Writes the file whole (a temporary file renamed over it), so a reader never sees half of it.</summary>
    public static async Task WriteAsync(string path, IEnumerable<ClusterProcess> processes, CancellationToken ct)
    {
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, Format(processes) + "\n", ct);
        File.Move(temporary, path, overwrite: true);
    }

    public static IReadOnlyList<ClusterProcess> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("processes").EnumerateArray()
            .Select(p => new ClusterProcess(
                p.GetProperty("role").GetString() ?? "",
                p.GetProperty("id").GetString() ?? "",
                p.GetProperty("address").GetString() ?? "",
                p.GetProperty("pid").GetInt32()))
            .ToArray();
    }

    /// <summary>The masters' addresses in <paramref name="directory"/>'s cluster.json, comma separated; null without one.</summary>
    public static string? MasterAddresses(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var masters = Parse(File.ReadAllText(path)).Where(p => p.Role == "master" && p.Address.Length > 0).Select(p => p.Address).ToArray();
            return masters.Length > 0 ? string.Join(',', masters) : null;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            return null;
        }
    }
}
