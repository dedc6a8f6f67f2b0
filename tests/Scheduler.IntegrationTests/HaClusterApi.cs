using Grpc.Core;
using Grpc.Health.V1;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Raw gRPC clients to each master of an <see cref="HaCluster"/> (no leader following, so a standby's own
/// answer can be seen), a leader-following <see cref="SchedulerClient"/> over all of them, and waits on
/// who leads. Calls use short deadlines: a paused or killed master must not stall a probe.
/// </summary>
public sealed class HaClusterApi : IDisposable
{
    private readonly HaCluster _cluster;
    private readonly Dictionary<string, ClusterApi> _apis = [];

    public HaClusterApi(HaCluster cluster) => _cluster = cluster;

    public ClusterApi this[HaMaster master]
    {
        get
        {
            if (!_apis.TryGetValue(master.Url, out var api))
            {
                api = new ClusterApi(master.Url);
                _apis[master.Url] = api;
            }

            return api;
        }
    }

    /// <summary>A client given every master's URL, as an application would be configured.</summary>
    public SchedulerClient NewClient() => new(TestCertificates.ClientOptions(
        SchedulerClientOptions.ParseAddresses(_cluster.MasterUrls),
        timeout: TimeSpan.FromSeconds(5),
        retryBudget: TimeSpan.FromSeconds(30)));

    public async Task<LeaderInfo> GetLeaderAsync(HaMaster master) =>
        await this[master].Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ShortDeadline());

    public async Task<HealthCheckResponse.Types.ServingStatus> HealthAsync(HaMaster master)
    {
        var health = new Health.HealthClient(this[master].Channel);
        return (await health.CheckAsync(new HealthCheckRequest(), deadline: ShortDeadline())).Status;
    }

    /// <summary>
    /// Waits until one of <paramref name="candidates"/> (default: every running master) says it leads and
    /// is SERVING, and every other candidate names it as the leader.
    /// </summary>
    public Task<HaMaster> WaitForLeaderAsync(IEnumerable<HaMaster>? candidates = null, TimeSpan? timeout = null)
    {
        var asked = (candidates ?? _cluster.Masters.Where(m => m.IsRunning)).ToList();
        return Eventually.ReturnsAsync(
            async () =>
            {
                HaMaster? leader = null;
                var answers = new List<LeaderInfo>();
                foreach (var master in asked)
                {
                    var info = await GetLeaderAsync(master);
                    answers.Add(info);
                    if (info.IsLeader && info.MasterId == master.Id)
                    {
                        leader = master;
                    }
                }

                return leader is not null
                    && answers.All(a => a.MasterId == leader.Id && a.Address == leader.Url)
                    && await HealthAsync(leader) == HealthCheckResponse.Types.ServingStatus.Serving
                    ? leader
                    : null;
            },
            $"one of {string.Join(", ", asked)} to lead, SERVING, and be named by the others",
            timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// The master that leads once <paramref name="nodeIds"/> are READY on it. On a busy machine the first leader
    /// may lose its lease before the workers have registered with it (seen in CI at load 80: the test then waited
    /// on a standby); whoever leads then is asked instead.
    /// </summary>
    public Task<HaMaster> WaitForLeaderWithReadyNodesAsync(params string[] nodeIds) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var leader = await WaitForLeaderAsync();
                var nodes = await this[leader].Admin.ListNodesAsync(new ListNodesRequest(), deadline: ShortDeadline());
                return nodeIds.All(id => nodes.Nodes.Any(n => n.Id == id && n.Health == NodeHealth.Ready)) ? leader : null;
            },
            $"a leader with nodes {string.Join(", ", nodeIds)} READY on it",
            TimeSpan.FromSeconds(90));

    public Task WaitForReadyNodesAsync(HaMaster leader, params string[] nodeIds) =>
        Eventually.TrueAsync(
            async () =>
            {
                var nodes = await this[leader].Admin.ListNodesAsync(new ListNodesRequest(), deadline: ShortDeadline());
                return nodeIds.All(id => nodes.Nodes.Any(n => n.Id == id && n.Health == NodeHealth.Ready));
            },
            $"nodes {string.Join(", ", nodeIds)} to be READY on {leader}",
            TimeSpan.FromSeconds(45));

    /// <summary>Waits for a job to reach <paramref name="state"/>, asking through a leader-following client.</summary>
    public static Task<Job> WaitForStateAsync(SchedulerClient client, string jobId, JobState state, TimeSpan? timeout = null) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var job = await client.GetJobAsync(jobId, CancellationToken.None);
                return job.State == state ? job : null;
            },
            $"job {jobId} to be {state}",
            timeout ?? TimeSpan.FromSeconds(60));

    public static DateTime ShortDeadline() => DateTime.UtcNow.AddSeconds(3);

    public void Dispose()
    {
        foreach (var api in _apis.Values)
        {
            api.Dispose();
        }

        _apis.Clear();
    }
}

internal static class RpcExceptionExtensions
{
    /// <summary>The leader URL a standby named in its refusal's trailer; null when the trailer is absent.</summary>
    public static string? LeaderTrailer(this RpcException ex) => ex.Trailers.GetValue("x-scheduler-leader");
}
