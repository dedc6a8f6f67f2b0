using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>With --auth, each token has a request budget (a token bucket) and each identity a cap on open streams.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class LimitsTests
{
    private TestCluster _cluster = null!;
    private AuthApi _api = null!;
    private string _tokenDir = "";
    private string _admin = "";

    [OneTimeSetUp]
    public async Task StartMaster()
    {
        _tokenDir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"limits-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_tokenDir);
        var file = Path.Combine(_tokenDir, "admin.token");

        // A refill so slow (one request per 1000 s) that nothing refills during a test: only the burst counts.
        _cluster = await TestCluster.StartAsync("limits", null, "--auth", "--bootstrap-token-file", file,
            "--rate-limit-rps", "0.001", "--rate-limit-burst", "200", "--max-streams-per-identity", "2");
        _api = new AuthApi(_cluster.MasterUrl);
        _admin = AuthApi.ReadToken(file);
    }

    [OneTimeTearDown]
    public async Task StopMaster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (Directory.Exists(_tokenDir))
        {
            Directory.Delete(_tokenDir, recursive: true);
        }
    }

    [Test]
    public async Task A_token_past_its_burst_gets_resource_exhausted_with_a_retry_hint()
    {
        var token = await _api.CreateTokenAsync(_admin, "operator", "busy script");
        var jobs = _api.Jobs(token);
        for (var i = 0; i < 200; i++)
        {
            await jobs.ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () => await jobs.ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline()));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(error.Status.Detail, Does.Contain("retry after"));
        Assert.That(long.Parse(error.Trailers.GetValue("grpc-retry-pushback-ms")!, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));

        // The budget is the token's own: another token is not slowed down.
        var other = await _api.CreateTokenAsync(_admin, "operator", "quiet script");
        await Assert.DoesNotThrowAsync(async () => await _api.Jobs(other).ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline()));
    }

    [Test]
    public async Task An_identity_at_its_stream_cap_cannot_open_another_until_one_closes()
    {
        var token = await _api.CreateTokenAsync(_admin, "operator", "watcher");
        var jobs = _api.Jobs(token);
        using var first = jobs.Watch(new WatchJobsRequest(), deadline: AuthApi.Deadline(60));
        var second = jobs.Watch(new WatchJobsRequest(), deadline: AuthApi.Deadline(60));
        Assert.That(await first.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(await second.ResponseStream.MoveNext(CancellationToken.None), Is.True);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var third = jobs.Watch(new WatchJobsRequest(), deadline: AuthApi.Deadline());
            await third.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(error.Status.Detail, Does.Contain("open streams"));

        second.Dispose();
        await Eventually.TrueAsync(
            async () =>
            {
                using var again = jobs.Watch(new WatchJobsRequest(), deadline: AuthApi.Deadline());
                try
                {
                    return await again.ResponseStream.MoveNext(CancellationToken.None);
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted && ex.Status.Detail.Contains("open streams", StringComparison.Ordinal))
                {
                    return false;
                }
            },
            "a watch to open once the second one closed");
    }
}
