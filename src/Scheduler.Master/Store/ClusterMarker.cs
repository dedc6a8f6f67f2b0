using System.Text.Json;

namespace Scheduler.Master.Store;

/// <summary>
/// <c>cluster.json</c> beside the database: which cluster this folder holds and the highest epoch
/// it has begun. It outlives the loss of the database, so a master never starts empty by accident
/// on a folder that held a cluster, and never goes back in epoch.
/// </summary>
internal sealed record ClusterMarker(string ClusterId, long Epoch)
{
    private const string FileName = "cluster.json";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static ClusterMarker? Read(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<ClusterMarker>(File.ReadAllText(path), Json)
                ?? throw new JsonException("empty");
        }
        catch (JsonException ex)
        {
            throw new StoreException($"{Path.GetFullPath(path)} cannot be read ({ex.Message}): it names the cluster this folder holds; restore it, or delete it if the database beside it is intact", ex);
        }
    }

    /// <summary>Replaces the file atomically: a crash leaves the old one or the new one.</summary>
    public void Write(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this, Json));
        File.Move(path + ".tmp", path, overwrite: true);
    }
}
