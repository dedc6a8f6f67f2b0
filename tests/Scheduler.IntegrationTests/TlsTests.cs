using Grpc.Core;
using Grpc.Net.Client;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Mutual TLS between cluster members, with real master and worker processes: the gateway admits only
/// workers whose certificate the cluster CA issued, takes the node id from that certificate, and a
/// plaintext cluster needs --insecure, which each host warns about.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class TlsTests : PerTestCluster
{
    [Test]
    public async Task A_worker_without_a_client_certificate_cannot_connect()
    {
        var (cluster, api) = await StartAsync("tls-nocert-worker");
        var plain = new UriBuilder(cluster.MasterUrl) { Scheme = "http" }.Uri.ToString().TrimEnd('/');

        // No certificate at all: the only way such a worker starts is --insecure, which speaks plaintext to a TLS port.
        var stranger = cluster.StartWorker("w1", extraArgs: ["--insecure", "--master", plain]);
        cluster.StartWorker("w2");

        await api.WaitForReadyNodesAsync("w2");
        await Eventually.TrueAsync(
            () => System.Text.RegularExpressions.Regex.Count(stranger.ReadLog(), "Connecting to the master failed") >= 2,
            "the worker without a certificate to have been turned away twice");
        var nodes = await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline());
        Assert.That(nodes.Nodes.Select(n => n.Id), Is.EquivalentTo(new[] { "w2" }));
        Assert.That(cluster.Master!.ReadLog(), Does.Not.Contain("Node w1 registered"));
    }

    [Test]
    public async Task A_worker_whose_certificate_another_CA_issued_cannot_connect()
    {
        var (cluster, api) = await StartAsync("tls-rogue");
        var (cert, key) = RogueCertificate(cluster.Root, ClusterRole.Node, "w1");
        using var channel = SchedulerChannels.ForAddress(new Uri(cluster.MasterUrl), new SchedulerClientOptions
        {
            Addresses = [new Uri(cluster.MasterUrl)],
            CaCertificate = ClusterCertificates.LoadCertificate(TestCertificates.CaPath),
            ClientCertificate = ClusterCertificates.Load(cert, key),
        });

        var refused = await RegisterAsync(channel, "w1");

        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.Unavailable), "refused in the TLS handshake: " + refused.Status.Detail);
        var nodes = await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline());
        Assert.That(nodes.Nodes, Is.Empty);
    }

    [Test]
    public async Task A_worker_process_with_a_certificate_another_CA_issued_refuses_to_start()
    {
        var (cluster, _) = await StartAsync("tls-rogue-process");
        var (cert, key) = RogueCertificate(cluster.Root, ClusterRole.Node, "w1");

        var worker = cluster.StartWorker("w1", extraArgs: ["--cert", cert, "--key", key, "--ca", TestCertificates.CaPath]);

        await Eventually.TrueAsync(() => worker.HasExited, "the worker to refuse");
        Assert.That(worker.ExitCode, Is.EqualTo(2));
        Assert.That(worker.ReadLog(), Does.Contain("is not trusted by the cluster CA"));
    }

    [Test]
    public async Task A_worker_gateway_call_without_a_client_certificate_is_unauthenticated()
    {
        var (cluster, _) = await StartAsync("tls-nocert");
        using var channel = SchedulerChannels.ForAddress(new Uri(cluster.MasterUrl), new SchedulerClientOptions
        {
            Addresses = [new Uri(cluster.MasterUrl)],
            CaCertificate = ClusterCertificates.LoadCertificate(TestCertificates.CaPath),
        });

        var refused = await RegisterAsync(channel, "w1");

        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), refused.Status.Detail);
        Assert.That(refused.Status.Detail, Does.Contain("node:NAME"));
    }

    [Test]
    public async Task A_client_certificate_is_no_node_certificate()
    {
        var (cluster, _) = await StartAsync("tls-client");

        var refused = await RegisterAsync(TestCertificates.Channel(cluster.MasterUrl), "tests");

        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), refused.Status.Detail);
    }

    [Test]
    public async Task A_worker_with_node_A_certificate_cannot_register_as_node_B()
    {
        var (cluster, api) = await StartAsync("tls-impersonate");
        cluster.StartWorker("node-b");
        await api.WaitForReadyNodesAsync("node-b");
        var (cert, key) = TestCertificates.Files(ClusterRole.Node, "node-a");
        using var channel = SchedulerChannels.ForAddress(new Uri(cluster.MasterUrl), new SchedulerClientOptions
        {
            Addresses = [new Uri(cluster.MasterUrl)],
            CaCertificate = ClusterCertificates.LoadCertificate(TestCertificates.CaPath),
            ClientCertificate = ClusterCertificates.Load(cert, key),
        });

        var refused = await RegisterAsync(channel, "node-b");

        Assert.That(refused.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), refused.Status.Detail);
        Assert.That(refused.Status.Detail, Does.Contain("node_id").And.Contain("node-b").And.Contain("node:node-a"));
        await api.WaitForReadyNodesAsync("node-b");
        Assert.That(cluster.Master!.ReadLog(), Does.Contain("Refused registration as node node-b"));
    }

    [Test]
    public async Task A_certified_node_claiming_an_epoch_far_above_the_cluster_s_is_refused_and_moves_nothing()
    {
        var (cluster, api) = await StartAsync("tls-epoch-claim");
        var before = (await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline())).Epoch;
        var (cert, key) = TestCertificates.Files(ClusterRole.Node, "liar");
        using var channel = SchedulerChannels.ForAddress(new Uri(cluster.MasterUrl), new SchedulerClientOptions
        {
            Addresses = [new Uri(cluster.MasterUrl)],
            CaCertificate = ClusterCertificates.LoadCertificate(TestCertificates.CaPath),
            ClientCertificate = ClusterCertificates.Load(cert, key),
        });

        using var call = new WorkerGateway.WorkerGatewayClient(channel).Connect(deadline: ClusterApi.Deadline());
        var register = new RegisterWorker { NodeId = "liar", LastEpoch = before + 1_000_001, Capacity = new Resources { CpuMillis = 1000, MemoryMib = 1024 } };
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new WorkerMessage { Register = register });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });

        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition), refused.Status.Detail);
        Assert.That(refused.Status.Detail, Does.StartWith("register.last_epoch:").And.Contain("--max-epoch-advance"));
        var after = await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline());
        Assert.That(after.Epoch, Is.EqualTo(before), "the epoch did not move");
        var nodes = await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline());
        Assert.That(nodes.Nodes.Select(n => n.Id), Does.Not.Contain("liar"));
    }

    [Test]
    public async Task A_worker_process_told_another_node_id_than_its_certificate_refuses_to_start()
    {
        var (cluster, _) = await StartAsync("tls-wrong-id");

        var worker = cluster.StartWorker("node-b", extraArgs: [.. TestCertificates.Args(ClusterRole.Node, "node-a")]);

        await Eventually.TrueAsync(() => worker.HasExited, "the worker to refuse");
        Assert.That(worker.ExitCode, Is.EqualTo(2));
        Assert.That(worker.ReadLog(), Does.Contain("--node-id node-b is not the node this worker's certificate names (node:node-a)"));
    }

    [Test]
    public async Task A_worker_takes_its_node_id_from_its_certificate()
    {
        var (cluster, api) = await StartAsync("tls-id");
        var args = new List<string>
        {
            "--master", cluster.MasterUrl, "--data-dir", Path.Combine(cluster.Root, "gpu-7"), "--gpu-probe", "simulated",
            "--cpu-millis", "4000", "--memory-mib", "8192",
        };
        args.AddRange(TestCertificates.Args(ClusterRole.Node, "gpu-7"));

        await using var worker = ManagedProcess.StartDotnet("gpu-7", Artifacts.WorkerDll, args, Path.Combine(cluster.Root, "gpu-7.log"));

        await api.WaitForReadyNodesAsync("gpu-7");
    }

    [Test]
    public async Task The_transfer_service_refuses_a_peer_without_a_node_certificate()
    {
        var (cluster, api) = await StartAsync("tls-transfer");
        cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var node = await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        var transfer = new Uri($"https://{node.TransferAddress}");

        // The worker's server certificate is good (CA, SAN 127.0.0.1); client:tests is a cluster certificate, but no node's.
        using var channel = SchedulerChannels.ForAddress(transfer, TestCertificates.ClientOptions([transfer]));

        var refused = await RpcAssert.FailsWith(
            StatusCode.Unavailable,
            () => new CheckpointTransfer.CheckpointTransferClient(channel).PrepareAsync(new PrepareRequest(), deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(refused.Status.DebugException, Is.Not.Null, "refused in the TLS handshake, before any RPC");
    }

    [Test]
    public async Task An_insecure_cluster_runs_jobs_and_master_and_worker_warn_at_start()
    {
        var (cluster, api) = await StartAsync("insecure", "--insecure");
        var worker = cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");

        var job = await api.SubmitAsync(ClusterApi.Shell("echo plain"));
        await api.WaitForStateAsync(job.Id, JobState.Succeeded);

        Assert.That(cluster.MasterUrl, Does.StartWith("http://"));
        Assert.That(cluster.Master!.ReadLog(), Does.Contain("warn:").And.Contain("--insecure: gRPC on"));
        Assert.That(worker.ReadLog(), Does.Contain("warn:").And.Contain("--insecure: the link to"));
    }

    [Test]
    public async Task A_master_without_certificates_or_insecure_refuses_to_start_saying_what_it_needs()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"tls-none-{Guid.NewGuid():N}"[..24]);
        try
        {
            var result = await DotnetCommand.RunAsync(Artifacts.MasterDll, ["--listen", "127.0.0.1:0", "--data-dir", dir], timeout: TimeSpan.FromSeconds(60));

            Assert.That(result.ExitCode, Is.EqualTo(2));
            Assert.That(result.Err.Trim(), Does.StartWith("error: TLS needs --cert, --key and --ca").And.Contain("--insecure").And.Not.Contain('\n'));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>Opens the worker stream and registers as <paramref name="nodeId"/>: the error the gateway answers with.</summary>
    private static async Task<RpcException> RegisterAsync(GrpcChannel channel, string nodeId)
    {
        using var call = new WorkerGateway.WorkerGatewayClient(channel).Connect(deadline: ClusterApi.Deadline());
        var register = new RegisterWorker { NodeId = nodeId, Capacity = new Resources { CpuMillis = 1000, MemoryMib = 1024 } };
        return await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new WorkerMessage { Register = register });
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }) ?? throw new AssertionException("the gateway accepted the registration");
    }

    /// <summary>A certificate for ROLE:NAME from a CA of its own, not the cluster's: (cert, key) paths.</summary>
    private static (string Cert, string Key) RogueCertificate(string root, ClusterRole role, string name)
    {
        using var ca = ClusterCertificates.CreateAuthority("rogue CA", TimeSpan.FromDays(1));
        using var issued = ClusterCertificates.Issue(ca, role, name, [], TimeSpan.FromDays(1));
        var file = Path.Combine(root, $"rogue-{name}");
        ClusterCertificates.WritePem(issued, file + ".crt", file + ".key");
        return (file + ".crt", file + ".key");
    }
}
