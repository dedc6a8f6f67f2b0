using dotnet_etcd;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Master.Leadership;
using Scheduler.Tests.Common;

namespace Scheduler.Master.Tests.Store;

/// <summary>One real etcd member for a fixture's tests (stopped by PID afterwards), a raw client to it, and a fresh key prefix per test.</summary>
public abstract class EtcdFixture(string name, params string[] etcdArgs)
{
    protected EtcdCluster Etcd { get; private set; } = null!;

    protected EtcdClient Client { get; private set; } = null!;

    /// <summary>This test's own keys: no test sees another's.</summary>
    protected string Prefix { get; private set; } = "";

    protected static CancellationToken Token => TestContext.CurrentContext.CancellationToken;

    [OneTimeSetUp]
    public async Task StartEtcd()
    {
        Etcd = await EtcdCluster.StartAsync(name, extraArgs: etcdArgs);
        Client = new EtcdClient(Etcd.Endpoints);
    }

    [OneTimeTearDown]
    public async Task StopEtcd()
    {
        Client?.Dispose();
        if (Etcd is not null)
        {
            await Etcd.DisposeAsync();
        }
    }

    [SetUp]
    public void NewPrefix() => Prefix = $"/{name}-{Guid.NewGuid():N}/";

    /// <summary>An election of master m1 on this fixture's etcd under this test's prefix.</summary>
    private protected EtcdElection NewElection(TimeSpan leaseTtl) => new(
        new ElectionOptions { Endpoints = Etcd.Endpoints, Prefix = Prefix, MasterId = "m1", LeaseTtl = leaseTtl, CallTimeout = TimeSpan.FromSeconds(5) },
        () => "127.0.0.1:1",
        NullLogger<EtcdElection>.Instance);
}
