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
}
