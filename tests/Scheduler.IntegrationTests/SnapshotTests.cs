using Grpc.Core;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Backup and restore: a snapshot of a running cluster restored into a fresh master, on SQLite and on etcd.</summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class SnapshotTests : PerTestCluster
{
    [TestCase("sqlite")]
    [TestCase("etcd")]
    public async Task A_snapshot_restores_every_job_into_a_fresh_master(string store)
    {
        var (source, api) = await StartAsync("snap-src");
        source.StartWorker("w1", gpus: 2);
        await api.WaitForReadyNodesAsync("w1");
        var ok = await api.SubmitAsync(ClusterApi.Shell("exit 0"), "req-ok");
        var failed = await api.SubmitAsync(ClusterApi.Shell("exit 3"), "req-failed");
        var unfit = await api.SubmitAsync(ClusterApi.Shell("exit 0", gpus: 8), "req-unfit");
        await api.WaitForStateAsync(ok.Id, JobState.Succeeded);
        await api.WaitForStateAsync(failed.Id, JobState.Failed);
        var before = (await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline())).Jobs.ToList();
        using var snapshot = new MemoryStream();
        await using (var client = Client(source.MasterUrl))
        {
            await client.SaveSnapshotAsync(snapshot, CancellationToken.None);
        }

        // A fresh master elsewhere, before any worker joins it.
        await using var target = await FreshMasterAsync(store);
        await using var restoring = Client(target.Url);
        var restored = await restoring.RestoreSnapshotAsync(snapshot, CancellationToken.None);
        Assert.That((restored.Jobs, restored.Nodes), Is.EqualTo((3L, 1)));

        using var restoredApi = new ClusterApi(target.Url);
        var after = await Eventually.ReturnsAsync(
            async () => await TryListAsync(restoredApi) is { Count: 3 } jobs ? jobs : null,
            "the restored master to serve the snapshot's jobs");
        Assert.That(after.Select(Key), Is.EquivalentTo(before.Select(Key)), "every job with its id, state, request id and spec");
        var leader = await restoredApi.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline());
        Assert.That(leader.Epoch, Is.GreaterThan(restored.Epoch), "a new term loaded it, past every epoch a worker obeyed");

        var again = await restoredApi.Jobs.SubmitAsync(new SubmitJobRequest { RequestId = "req-ok", Spec = ClusterApi.Shell("exit 0") }, deadline: ClusterApi.Deadline());
        var next = await restoredApi.Jobs.SubmitAsync(new SubmitJobRequest { RequestId = "req-new", Spec = ClusterApi.Shell("exit 0") }, deadline: ClusterApi.Deadline());
        Assert.That((again.Created, again.Job.Id), Is.EqualTo((false, ok.Id)), "request ids are kept: a retried submit is not run twice");
        Assert.That(next.Job.Id, Is.EqualTo("j-000004"), "ids go on after the snapshot's");
        var nodes = await restoredApi.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline());
        Assert.That(nodes.Nodes.Select(n => n.Id), Is.EqualTo(new[] { "w1" }), "its node is known, awaiting its worker");

        var twice = await RpcAssert.FailsWith(StatusCode.FailedPrecondition, () => restoring.RestoreSnapshotAsync(snapshot, CancellationToken.None));
        Assert.That(twice.Status.Detail, Does.Contain("fresh cluster"));
        TestContext.Out.WriteLine($"{snapshot.Length} bytes restored into {store}; unfit job {unfit.Id} still {after.Single(j => j.Id == unfit.Id).State}");
    }

    [Test]
    public async Task A_snapshot_carries_the_tokens_hashed_and_a_master_restored_from_it_honours_them()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"snaptok-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var sourceFile = Path.Combine(dir, "source-admin.token");
            var targetFile = Path.Combine(dir, "target-admin.token");
            await using var source = await TestCluster.StartAsync("snaptok-src", null, "--auth", "--bootstrap-token-file", sourceFile);
            using var sourceApi = new AuthApi(source.MasterUrl);
            var sourceAdmin = AuthApi.ReadToken(sourceFile);
            var submitter = await sourceApi.CreateTokenAsync(sourceAdmin, "submitter", "team-a ci", "team-a");
            var revoked = await sourceApi.CreateTokenAsync(sourceAdmin, "operator", "left the team");
            var revokedId = revoked[..revoked.IndexOf('.', StringComparison.Ordinal)];
            await sourceApi.Admin(sourceAdmin).RevokeTokenAsync(new RevokeTokenRequest { Id = revokedId }, deadline: AuthApi.Deadline());
            using var snapshot = new MemoryStream();
            await using (var client = new SchedulerClient(WithToken(source.MasterUrl, sourceAdmin)))
            {
                await client.SaveSnapshotAsync(snapshot, CancellationToken.None);
            }

            var text = System.Text.Encoding.UTF8.GetString(snapshot.ToArray());
            Assert.That(text, Does.Contain(revokedId).And.Not.Contain(submitter[(submitter.IndexOf('.', StringComparison.Ordinal) + 1)..]), "tokens are in the snapshot, their secrets are not");

            await using var target = await TestCluster.StartAsync("snaptok-dst", null, "--auth", "--bootstrap-token-file", targetFile);
            using var targetApi = new AuthApi(target.MasterUrl);
            snapshot.Position = 0;
            await using (var restoring = new SchedulerClient(WithToken(target.MasterUrl, AuthApi.ReadToken(targetFile))))
            {
                var restored = await restoring.RestoreSnapshotAsync(snapshot, CancellationToken.None);
                Assert.That(restored.Tokens, Is.EqualTo(3), "the source's bootstrap, submitter and revoked tokens");
            }

            var listed = await Eventually.ReturnsAsync(
                async () =>
                {
                    try
                    {
                        return await targetApi.Jobs(submitter).ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());
                    }
                    catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.FailedPrecondition)
                    {
                        return null;
                    }
                },
                "the restored master to serve the submitter's token");
            Assert.That(listed.Jobs, Is.Empty);
            var leader = await targetApi.Admin(sourceAdmin).GetLeaderAsync(new GetLeaderRequest(), deadline: AuthApi.Deadline());
            Assert.That(leader.IsLeader, Is.True, "the source's admin token works on the restored master");
            var refused = await RpcAssert.FailsWith(StatusCode.Unauthenticated, () => targetApi.Admin(revoked).GetLeaderAsync(new GetLeaderRequest(), deadline: AuthApi.Deadline()).ResponseAsync);
            Assert.That(refused.Status.Detail, Does.Contain("revoked"), "a revocation survives the restore");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task A_document_that_is_not_a_snapshot_is_refused_naming_why_and_nothing_is_stored()
    {
        var (cluster, api) = await StartAsync("snap-bad");
        await using var client = Client(cluster.MasterUrl);
        using var bad = new MemoryStream("""{"format":"scheduler-snapshot/1","epoch":3,"jobs":[{"id":"j-000001","sequence":1,"requestId":"r","spec":"AAAA/w==","status":{}}]}"""u8.ToArray());

        var refused = await RpcAssert.FailsWith(StatusCode.InvalidArgument, () => client.RestoreSnapshotAsync(bad, CancellationToken.None));

        Assert.That(refused.Status.Detail, Does.StartWith("snapshot: jobs[0]"));
        var jobs = await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(jobs.Jobs, Is.Empty);
    }

    private static string Key(Job j) => $"{j.Id} {j.State} {j.RequestId} {j.Spec}";

    private static async Task<List<Job>?> TryListAsync(ClusterApi api)
    {
        try
        {
            return [.. (await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline())).Jobs];
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.FailedPrecondition)
        {
            // Between the restoring term and the one that loads it.
            return null;
        }
    }

    private static SchedulerClientOptions WithToken(string url, string token)
    {
        var tls = TestCertificates.ClientOptions([new Uri(url)]);
        return new SchedulerClientOptions { Addresses = tls.Addresses, CaCertificate = tls.CaCertificate, ClientCertificate = tls.ClientCertificate, Token = token };
    }

    private static SchedulerClient Client(string url) => new(TestCertificates.ClientOptions([new Uri(url)]));

    private static async Task<FreshMaster> FreshMasterAsync(string store)
    {
        if (store == "sqlite")
        {
            var cluster = await TestCluster.StartAsync("snap-dst");
            return new FreshMaster(cluster.MasterUrl, cluster);
        }

        var ha = await HaCluster.StartAsync("snap-dst-etcd", etcdMembers: 1, masters: 1);
        return new FreshMaster(ha.MasterUrls, ha);
    }

    private sealed record FreshMaster(string Url, IAsyncDisposable Cluster) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Cluster.DisposeAsync();
    }
}
