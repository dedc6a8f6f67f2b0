using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Two masters on one etcd with --auth: tokens live in etcd, so each master honours what the other changed.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class HaAuthTests
{
    [Test]
    public async Task A_token_revoked_through_one_master_is_refused_by_the_other_on_its_next_call()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"haauth-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "admin.token");
        try
        {
            await using var cluster = await HaCluster.StartAsync("haauth", masters: 2, extraMasterArgs: ["--auth", "--bootstrap-token-file", file]);
            using var first = new AuthApi(cluster.Masters[0].Url);
            using var second = new AuthApi(cluster.Masters[1].Url);
            var admin = AuthApi.ReadToken(file);

            // Created through the first master, accepted by the second (GetLeader is answered by standbys too).
            var token = await first.CreateTokenAsync(admin, "operator", "ops on call");
            var leader = await second.Admin(token).GetLeaderAsync(new GetLeaderRequest(), deadline: AuthApi.Deadline());
            Assert.That(leader.MasterId, Is.Not.Empty);

            var id = token[..token.IndexOf('.', StringComparison.Ordinal)];
            await first.Admin(admin).RevokeTokenAsync(new RevokeTokenRequest { Id = id }, deadline: AuthApi.Deadline());

            var error = await Assert.ThrowsAsync<RpcException>(async () => await second.Admin(token).GetLeaderAsync(new GetLeaderRequest(), deadline: AuthApi.Deadline()));
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(error.Status.Detail, Does.Contain("revoked"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task A_token_revoked_through_a_standby_ends_the_watch_it_holds_open_on_the_leader()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"haauth-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "admin.token");
        try
        {
            await using var cluster = await HaCluster.StartAsync("haauthw", masters: 2, extraMasterArgs: ["--auth", "--bootstrap-token-file", file]);
            var admin = AuthApi.ReadToken(file);
            var apis = cluster.Masters.Select(m => new AuthApi(m.Url)).ToArray();
            try
            {
                var leader = await Eventually.ReturnsAsync(
                    async () =>
                    {
                        foreach (var api in apis)
                        {
                            if ((await api.Admin(admin).GetLeaderAsync(new GetLeaderRequest(), deadline: AuthApi.Deadline())).IsLeader)
                            {
                                return api;
                            }
                        }

                        return null;
                    },
                    "a leader");
                var standby = apis.First(a => a != leader);
                var token = await standby.CreateTokenAsync(admin, "operator", "watching on the leader");
                using var watch = leader.Jobs(token).Watch(new WatchJobsRequest(), deadline: DateTime.UtcNow.AddSeconds(90));
                Assert.That(await watch.ResponseStream.MoveNext(CancellationToken.None), Is.True, "the watch is open (its SYNCED event)");

                var id = token[..token.IndexOf('.', StringComparison.Ordinal)];
                await standby.Admin(admin).RevokeTokenAsync(new RevokeTokenRequest { Id = id }, deadline: AuthApi.Deadline());

                var error = await Assert.ThrowsAsync<RpcException>(async () =>
                {
                    while (await watch.ResponseStream.MoveNext(CancellationToken.None))
                    {
                    }
                });
                Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), error.Status.Detail);
                Assert.That(error.Status.Detail, Does.Contain($"token {id} was revoked"));
            }
            finally
            {
                foreach (var api in apis)
                {
                    api.Dispose();
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
