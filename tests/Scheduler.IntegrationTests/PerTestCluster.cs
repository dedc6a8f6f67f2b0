using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Fixtures whose tests each get a fresh cluster (faults must not leak between tests), stopped in teardown.</summary>
public abstract class PerTestCluster
{
    protected TestCluster? Cluster { get; private set; }

    protected ClusterApi? Api { get; private set; }

    [TearDown]
    public async Task StopCluster()
    {
        Api?.Dispose();
        Api = null;
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
            Cluster = null;
        }
    }

    protected Task<(TestCluster Cluster, ClusterApi Api)> StartAsync(string name, params string[] masterArgs) =>
        StartAsync(name, null, masterArgs);

    protected async Task<(TestCluster Cluster, ClusterApi Api)> StartAsync(string name, ClusterTimings? timings, params string[] masterArgs)
    {
        Cluster = await TestCluster.StartAsync(name, timings, masterArgs);
        Api = new ClusterApi(Cluster.MasterUrl);
        return (Cluster, Api);
    }
}
