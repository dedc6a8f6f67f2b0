using System.Globalization;
using System.Net;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Names and addresses of a gang job's replicas. A replica is one agent: its allocation on its node
/// and its agent on the worker are both named <c>"&lt;job id&gt;-r&lt;rank&gt;"</c> (a job id never
/// holds "-r", and the worker takes no '/' in an agent's name).
/// </summary>
internal static class GangMembers
{
    /// <summary>
    /// First port a replica is given; every replica on one host gets a different port from here up,
    /// the lowest no other held replica on that host uses (29500 is torch.distributed's default).
    /// </summary>
    public const int FirstPort = 29500;

    /// <summary>How many ports from <see cref="FirstPort"/> replicas may use on one host.</summary>
    public const int PortRange = 4096;

    private const string Separator = "-r";

    public static string AgentId(string jobId, int rank) =>
        string.Create(CultureInfo.InvariantCulture, $"{jobId}{Separator}{rank}");

    /// <summary>True when <paramref name="agentId"/> names a replica; its job id and rank come out.</summary>
    public static bool TryParse(string agentId, out string jobId, out int rank)
    {
        var at = agentId.LastIndexOf(Separator, StringComparison.Ordinal);
        if (at > 0 && int.TryParse(agentId.AsSpan(at + Separator.Length), NumberStyles.None, CultureInfo.InvariantCulture, out rank))
        {
            jobId = agentId[..at];
            return true;
        }

        jobId = "";
        rank = -1;
        return false;
    }

    /// <summary>
    /// The host peers reach a node's replicas on: the host of the address the worker serves transfers
    /// on (an address other workers already reach it by), else its host name. A wildcard address
    /// (0.0.0.0, [::]) names no host, so the host name is taken instead.
    /// </summary>
    public static string HostOf(NodeRecord node)
    {
        if (node.TransferAddress.Length > 0)
        {
            var colon = node.TransferAddress.LastIndexOf(':');
            var host = colon > 0 ? node.TransferAddress[..colon] : node.TransferAddress;
            if (host.Length > 0 && !(IPAddress.TryParse(host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))))
            {
                return host;
            }
        }

        return node.Hostname.Length > 0 ? node.Hostname : node.Id;
    }

    /// <summary>The lowest port from <see cref="FirstPort"/> not in <paramref name="used"/>, or null when the range is full.</summary>
    public static int? FreePort(IReadOnlySet<int> used)
    {
        for (var port = FirstPort; port < FirstPort + PortRange; port++)
        {
            if (!used.Contains(port))
            {
                return port;
            }
        }

        return null;
    }

    public static int PortOf(string address) =>
        int.TryParse(address.AsSpan(address.LastIndexOf(':') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) ? port : 0;

    /// <summary>Every (node, allocation id) the job holds now: its one allocation, or each holding replica's.</summary>
    public static IEnumerable<(string NodeId, string AllocationId)> HeldAllocations(JobRecord job)
    {
        if (job.IsGang)
        {
            foreach (var replica in job.Replicas)
            {
                if (replica.Holds)
                {
                    yield return (replica.NodeId, AgentId(job.Id, replica.Rank));
                }
            }
        }
        else if (job.HoldsAllocation && job.NodeId is { } nodeId)
        {
            yield return (nodeId, job.Id);
        }
    }

    /// <summary>True when the job holds capacity on <paramref name="nodeId"/> (for a gang: some replica does).</summary>
    public static bool HoldsOn(JobRecord job, string nodeId) =>
        job.HoldsAllocation && (job.IsGang ? job.Replicas.Any(r => r.Holds && r.NodeId == nodeId) : job.NodeId == nodeId);
}
