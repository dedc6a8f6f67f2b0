using Grpc.Core;
using Scheduler.Client;

namespace Scheduler.Cli.Tests;

/// <summary>The client's retry and leader-following policy, driven by scripted failures (no network is touched).</summary>
[TestFixture]
[CancelAfter(10_000)]
public sealed class CallRetryPolicyTests
{
    private static readonly Uri M1 = new("http://127.0.0.1:7001");
    private static readonly Uri M2 = new("http://127.0.0.1:7002");
    private static readonly Uri M3 = new("http://127.0.0.1:7003");

    [Test]
    public async Task Follows_a_standby_redirect_to_a_leader_it_did_not_know(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var policy = Policy(endpoints);
        var tried = new List<Uri>();

        var answered = await policy.ExecuteAsync(
            (e, _) => Answer(tried, e, e.Address.Port == M1.Port ? Redirect(StatusCode.FailedPrecondition, M3) : null),
            idempotent: true,
            ct);

        Assert.That(tried, Is.EqualTo(new[] { M1, M3 }).Using<Uri>(MasterEndpoints.SameAddress));
        Assert.That(MasterEndpoints.SameAddress(answered, M3), Is.True);
        Assert.That(MasterEndpoints.SameAddress(endpoints.Current.Address, M3), Is.True, "later calls go straight to the leader");
    }

    [Test]
    public async Task Follows_a_leader_named_on_unavailable_too(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1, M2], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        await Policy(endpoints).ExecuteAsync(
            (e, _) => Answer(tried, e, e.Address.Port == M1.Port ? Redirect(StatusCode.Unavailable, M3) : null),
            idempotent: true,
            ct);

        Assert.That(tried, Is.EqualTo(new[] { M1, M3 }).Using<Uri>(MasterEndpoints.SameAddress));
    }

    [Test]
    public async Task Moves_to_the_next_address_when_a_master_is_unavailable(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1, M2], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        await Policy(endpoints).ExecuteAsync(
            (e, _) => Answer(tried, e, e.Address.Port == M1.Port ? ConnectionRefused() : null),
            idempotent: true,
            ct);

        Assert.That(tried, Is.EqualTo(new[] { M1, M2 }).Using<Uri>(MasterEndpoints.SameAddress));
    }

    [Test]
    public async Task In_a_failover_does_not_follow_a_stale_redirect_back_to_the_dead_leader(CancellationToken ct)
    {
        // M1 led and was killed; M2 has not seen its lease lapse and still names it; M3 took over.
        await using var endpoints = new MasterEndpoints([M1, M2, M3], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        await Policy(endpoints).ExecuteAsync(
            (e, _) => Answer(tried, e, e.Address.Port switch
            {
                7001 => ConnectionRefused(),
                7002 => Redirect(StatusCode.FailedPrecondition, M1),
                _ => null,
            }),
            idempotent: true,
            ct);

        Assert.That(tried, Is.EqualTo(new[] { M1, M2, M3 }).Using<Uri>(MasterEndpoints.SameAddress));
    }

    [Test]
    public async Task A_master_found_unreachable_is_followed_again_once_it_may_have_come_back(CancellationToken ct)
    {
        // A long call: M1 was down, then restarted and elected; M2 names it. After a second the
        // earlier refusal no longer stands in the way.
        var time = new ManualTimeProvider();
        await using var endpoints = new MasterEndpoints([M1, M2], TimeSpan.FromSeconds(1));
        var policy = new CallRetryPolicy(
            new SchedulerClientOptions { MaxRetries = 20, InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(5) },
            endpoints,
            time,
            new Random(42));
        var tried = new List<Uri>();
        var m1Back = false;

        await policy.ExecuteAsync(
            (e, _) =>
            {
                RpcException? failure = e.Address.Port == M1.Port
                    ? (m1Back ? null : ConnectionRefused())
                    : Redirect(StatusCode.FailedPrecondition, M1);
                if (tried.Count == 3)
                {
                    time.Advance(TimeSpan.FromSeconds(2));
                    m1Back = true;
                }

                return Answer(tried, e, failure);
            },
            idempotent: true,
            ct);

        Assert.That(tried, Is.EqualTo(new[] { M1, M2, M2, M2, M1 }).Using<Uri>(MasterEndpoints.SameAddress));
    }

    [Test]
    public async Task Skips_a_master_found_unreachable_while_standbys_elect(CancellationToken ct)
    {
        // M1 is dead; M2 and M3 answer as standbys without a leader for the first five attempts.
        await using var endpoints = new MasterEndpoints([M1, M2, M3], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        await Policy(endpoints, maxRetries: 10).ExecuteAsync(
            (e, _) => Answer(tried, e, e.Address.Port == M1.Port ? ConnectionRefused() : tried.Count < 5 ? Redirect(StatusCode.FailedPrecondition, null) : null),
            idempotent: true,
            ct);

        Assert.That(tried.Skip(1), Has.None.Matches<Uri>(u => MasterEndpoints.SameAddress(u!, M1)), "the dead master is not asked again in this call");
        Assert.That(tried, Has.Count.EqualTo(6));
    }

    [TestCase(true, 2)]
    [TestCase(false, 1)]
    public async Task Retries_a_timed_out_attempt_only_when_the_call_is_idempotent(bool idempotent, int attempts)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        var call = Policy(endpoints).ExecuteAsync(
            (e, _) => Answer(tried, e, tried.Count == 0 ? new RpcException(new Status(StatusCode.DeadlineExceeded, "slow")) : null),
            idempotent,
            limit.Token);

        if (idempotent)
        {
            await call;
        }
        else
        {
            Assert.That(async () => await call, Throws.TypeOf<RpcException>().With.Property(nameof(RpcException.StatusCode)).EqualTo(StatusCode.DeadlineExceeded));
        }

        Assert.That(tried, Has.Count.EqualTo(attempts));
    }

    [Test]
    public async Task Does_not_retry_a_rejected_request(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1, M2], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        var call = Policy(endpoints).ExecuteAsync(
            (e, _) => Answer(tried, e, new RpcException(new Status(StatusCode.InvalidArgument, "spec.command is required"))),
            idempotent: true,
            ct);

        Assert.That(async () => await call, Throws.TypeOf<RpcException>().With.Property(nameof(RpcException.StatusCode)).EqualTo(StatusCode.InvalidArgument));
        Assert.That(tried, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Names_every_address_tried_when_no_master_answers(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1, M2], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        var call = Policy(endpoints, maxRetries: 3).ExecuteAsync((e, _) => Answer(tried, e, ConnectionRefused()), idempotent: true, ct);

        Assert.That(
            async () => await call,
            Throws.TypeOf<MasterUnreachableException>().With.Message.Contains("127.0.0.1:7001").And.Message.Contains("127.0.0.1:7002").And.Message.Contains("Connection refused"));
        Assert.That(tried, Has.Count.EqualTo(4), "the first attempt and three retries");
    }

    [Test]
    public async Task Keeps_retrying_an_unavailable_master_for_the_whole_budget_not_a_fixed_count(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();
        var policy = new CallRetryPolicy(
            new SchedulerClientOptions { InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(2) },
            endpoints,
            TimeProvider.System,
            new Random(42));

        // A master restarting: twenty refusals, well within the default 20 s budget, then an answer.
        var answered = await policy.ExecuteAsync((e, _) => Answer(tried, e, tried.Count < 20 ? ConnectionRefused() : null), idempotent: false, ct);

        Assert.That(MasterEndpoints.SameAddress(answered, M1), Is.True);
        Assert.That(tried, Has.Count.EqualTo(21));
    }

    [Test]
    public async Task Stops_retrying_once_the_budget_is_spent(CancellationToken ct)
    {
        var time = new ManualTimeProvider();
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();
        var policy = new CallRetryPolicy(
            new SchedulerClientOptions { RetryBudget = TimeSpan.FromSeconds(20), InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero },
            endpoints,
            time,
            new Random(42));

        await Assert.ThatAsync(
            () =>
            {
                return policy.ExecuteAsync(
                    (e, _) =>
                    {
                        // Each attempt takes 3 s (a connect timeout, say).
                        time.Advance(TimeSpan.FromSeconds(3));
                        return Answer(tried, e, ConnectionRefused());
                    },
                    idempotent: false,
                    ct);
            },
            Throws.TypeOf<MasterUnreachableException>());

        // The first failure starts the budget; the 8th comes 21 s later, past it.
        Assert.That(tried, Has.Count.EqualTo(8));
    }

    [Test]
    public async Task Sends_a_call_refused_by_a_busy_master_again_only_after_its_hint(CancellationToken ct)
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var policy = new CallRetryPolicy(new SchedulerClientOptions(), endpoints, time, new Random(42));
        var stored = new Dictionary<string, int>(StringComparer.Ordinal);
        var attempts = 0;

        // The master refuses the first attempt before storing anything; the second is stored under its request id.
        var call = policy.ExecuteAsync(
            (_, _) =>
            {
                if (Interlocked.Increment(ref attempts) == 1)
                {
                    return Task.FromException<string>(Busy(300));
                }

                stored["req-1"] = stored.GetValueOrDefault("req-1") + 1;
                return Task.FromResult("j-000001");
            },
            idempotent: true,
            ct);

        Assert.That(attempts, Is.EqualTo(1));
        time.Advance(TimeSpan.FromMilliseconds(299));
        Assert.That((call.IsCompleted, Volatile.Read(ref attempts)), Is.EqualTo((false, 1)), "not sent again before the hint");

        // The hint plus at most a tenth of it (jitter).
        time.Advance(TimeSpan.FromMilliseconds(31));
        Assert.That(await call.WaitAsync(TimeSpan.FromSeconds(30), ct), Is.EqualTo("j-000001"));
        Assert.That(attempts, Is.EqualTo(2));
        Assert.That(stored["req-1"], Is.EqualTo(1));
    }

    [Test]
    public async Task Gives_up_on_a_busy_master_after_the_busy_retries(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var policy = new CallRetryPolicy(new SchedulerClientOptions { MaxBusyRetries = 3 }, endpoints, TimeProvider.System, new Random(42));
        var tried = new List<Uri>();

        var error = await Assert.ThrowsAsync<RpcException>(() => policy.ExecuteAsync((e, _) => Answer(tried, e, Busy(1)), idempotent: true, ct));

        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(tried, Has.Count.EqualTo(4), "the first attempt and three retries");
    }

    [Test]
    public async Task Does_not_retry_resource_exhausted_without_a_hint(CancellationToken ct)
    {
        await using var endpoints = new MasterEndpoints([M1], TimeSpan.FromSeconds(1));
        var tried = new List<Uri>();

        await Assert.ThatAsync(
            () => Policy(endpoints).ExecuteAsync((e, _) => Answer(tried, e, new RpcException(new Status(StatusCode.ResourceExhausted, "quota"))), idempotent: true, ct),
            Throws.TypeOf<RpcException>());

        Assert.That(tried, Has.Count.EqualTo(1), "a quota or size refusal is not a reason to wait and resend");
    }

    [Test]
    public void Parses_comma_separated_master_addresses_and_rejects_other_schemes()
    {
        var addresses = SchedulerClientOptions.ParseAddresses("http://m1:7070, 127.0.0.1:7071");

        Assert.That(addresses.Select(a => a.ToString()), Is.EqualTo(new[] { "http://m1:7070/", "http://127.0.0.1:7071/" }));
        Assert.That(() => SchedulerClientOptions.ParseAddresses("ftp://m1"), Throws.TypeOf<FormatException>().With.Message.Contains("ftp://m1"));
        Assert.That(() => SchedulerClientOptions.ParseAddresses(" , "), Throws.TypeOf<FormatException>());
    }

    private static CallRetryPolicy Policy(MasterEndpoints endpoints, int maxRetries = 6) =>
        new(
            new SchedulerClientOptions { MaxRetries = maxRetries, InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(5) },
            endpoints,
            TimeProvider.System,
            new Random(42));

    private static Task<Uri> Answer(List<Uri> tried, MasterEndpoint endpoint, RpcException? failure)
    {
        tried.Add(endpoint.Address);
        return failure is null ? Task.FromResult(endpoint.Address) : Task.FromException<Uri>(failure);
    }

    private static RpcException Redirect(StatusCode code, Uri? leader) =>
        new(new Status(code, "not the leader"), new Metadata { { SchedulerMetadata.LeaderTrailer, leader?.ToString() ?? "" } });

    private static RpcException Busy(int retryAfterMs) =>
        new(new Status(StatusCode.ResourceExhausted, $"busy; retry after {retryAfterMs} ms"), new Metadata { { SchedulerMetadata.RetryAfterTrailer, retryAfterMs.ToString(System.Globalization.CultureInfo.InvariantCulture) } });

    private static RpcException ConnectionRefused() =>
        new(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", new HttpRequestException("Connection refused (127.0.0.1:7001)")));

    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualTimeProvider : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
