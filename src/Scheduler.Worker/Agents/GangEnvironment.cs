using System.Globalization;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Agents;

/// <summary>
/// What a gang replica's agent is told of its gang, as distributed-training launchers expect it:
/// ours (SCHEDULER_RANK, SCHEDULER_WORLD_SIZE, SCHEDULER_PEERS...) and torch.distributed's
/// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT: rank 0's address).
/// </summary>
internal static class GangEnvironment
{
    public static void Apply(GangRank gang, IDictionary<string, string?> environment)
    {
        var rank = Text(gang.Rank);
        var world = Text(gang.WorldSize);
        var own = gang.Rank >= 0 && gang.Rank < gang.Peers.Count ? gang.Peers[gang.Rank] : "";
        var (masterHost, masterPort) = gang.Peers.Count > 0 ? Split(gang.Peers[0]) : ("", "");
        environment["SCHEDULER_GANG_JOB_ID"] = gang.JobId;
        environment["SCHEDULER_RANK"] = rank;
        environment["SCHEDULER_WORLD_SIZE"] = world;
        environment["SCHEDULER_LOCAL_RANK"] = Text(gang.LocalRank);
        environment["SCHEDULER_PEERS"] = string.Join(',', gang.Peers);
        environment["SCHEDULER_PORT"] = Split(own).Port;
        environment["RANK"] = rank;
        environment["WORLD_SIZE"] = world;
        environment["LOCAL_RANK"] = Text(gang.LocalRank);
        environment["LOCAL_WORLD_SIZE"] = Text(gang.LocalWorldSize);
        // A bare address, as torch.distributed takes it (an IPv6 one without its brackets).
        environment["MASTER_ADDR"] = masterHost.Trim('[', ']');
        environment["MASTER_PORT"] = masterPort;
    }

    private static (string Host, string Port) Split(string address)
    {
        var colon = address.LastIndexOf(':');
        return colon < 0 ? (address, "") : (address[..colon], address[(colon + 1)..]);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
