using System.Text.Json;
using System.Text.Json.Serialization;

namespace Scheduler.Worker.Keeper;

/// <summary>
/// One line from the worker to its keeper (JSON). <c>lease</c>: the group's agents must be killed
/// unless another lease arrives before <see cref="Deadline"/> (a <see cref="System.Diagnostics.Stopwatch"/>
/// timestamp, which on Linux is the system-wide monotonic clock, so both processes read the same
/// time). <c>track</c>/<c>untrack</c>: an agent to kill with its group, or one already gone.
/// </summary>
internal sealed record KeeperMessage(
    string Op,
    string Group = "",
    string Id = "",
    long Deadline = 0,
    int Pid = 0,
    string Token = "",
    string? Cgroup = null,
    string? Marker = null)
{
    public const string Lease = "lease";
    public const string Track = "track";
    public const string Untrack = "untrack";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    };

    public string ToLine() => JsonSerializer.Serialize(this, Json);

    public static KeeperMessage? Parse(string line)
    {
        try
        {
            return JsonSerializer.Deserialize<KeeperMessage>(line, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
