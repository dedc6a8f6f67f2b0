using Grpc.Core;
using Polly;
using Polly.Retry;

namespace Scheduler.Client;

/// <summary>
/// Retries a call on UNAVAILABLE (next address, exponential backoff with jitter), on DEADLINE_EXCEEDED when the
/// call is idempotent, and follows a standby's leader redirect at once; bounded by a count and by the time since
/// the first failure. A master too busy to take the call (RESOURCE_EXHAUSTED with a retry-after-ms hint, sent
/// before anything was stored) is asked again after its hint, a bounded number of times.
/// </summary>
internal sealed class CallRetryPolicy
{
    private static readonly ResiliencePropertyKey<MasterEndpoint> EndpointKey = new("scheduler.endpoint");
    private static readonly ResiliencePropertyKey<long> FirstFailureKey = new("scheduler.first-failure");
    private static readonly ResiliencePropertyKey<bool> IdempotentKey = new("scheduler.idempotent");
    private static readonly ResiliencePropertyKey<Dictionary<string, long>> UnavailableKey = new("scheduler.unavailable");

    // How long a master found unreachable is not followed to on a standby's word: about as long as a
    // standby may still name a dead leader (its lease has not lapsed yet). Short, because the same
    // master may be restarted and lead again later in a long call.
    private static readonly TimeSpan UnreachableMemory = TimeSpan.FromSeconds(1);
    private static readonly ResiliencePropertyKey<int> FailuresKey = new("scheduler.failures");
    private static readonly ResiliencePropertyKey<int> BusyKey = new("scheduler.busy");
    private static readonly ResiliencePropertyKey<int> RetriedKey = new("scheduler.retried");

    // While standbys answer (an election is under way, or one of them is loading its term) they are
    // asked again briskly: the answer is cheap, and the new leader should be found within a poll.
    private static readonly TimeSpan ElectionPoll = TimeSpan.FromMilliseconds(100);

    private readonly MasterEndpoints _endpoints;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _budget;
    private readonly ResiliencePipeline _pipeline;
    private readonly TimeSpan _initialBackoff;
    private readonly TimeSpan _maxBackoff;
    private readonly int _maxBusyRetries;
    private readonly SchedulerClientOptions _options;

    public CallRetryPolicy(SchedulerClientOptions options, MasterEndpoints endpoints, TimeProvider timeProvider, Random random)
    {
        _options = options;
        _endpoints = endpoints;
        _timeProvider = timeProvider;
        _budget = options.RetryBudget;
        _initialBackoff = options.InitialBackoff;
        _maxBackoff = options.MaxBackoff;
        _maxBusyRetries = options.MaxBusyRetries;
        var retry = new RetryStrategyOptions
        {
            MaxRetryAttempts = (int)Math.Min(int.MaxValue, Math.Max(1L, options.MaxRetries) + options.MaxBusyRetries),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.InitialBackoff,
            MaxDelay = options.MaxBackoff,
            Randomizer = random.NextDouble,
            ShouldHandle = args => ValueTask.FromResult(Handles(args.Context, args.Outcome.Exception, options.MaxRetries)),
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(DelayFor(args.Context, args.Outcome.Exception, random)),
            OnRetry = args =>
            {
                if (RetryAfter(args.Outcome.Exception) is not null)
                {
                    // The leader answered and asked for time: it stays the one to ask.
                    return ValueTask.CompletedTask;
                }

                OnFailure(args.Context, args.Outcome.Exception);
                return ValueTask.CompletedTask;
            },
        };
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = timeProvider }.AddRetry(retry).Build();
    }

    /// <summary>
    /// Runs <paramref name="call"/> against the current master, retrying per the policy. A timed-out attempt may
    /// still have taken effect, so DEADLINE_EXCEEDED is retried only when <paramref name="idempotent"/>.
    /// </summary>
    public async Task<T> ExecuteAsync<T>(Func<MasterEndpoint, CancellationToken, Task<T>> call, bool idempotent, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(IdempotentKey, idempotent);
        try
        {
            return await _pipeline.ExecuteAsync(
                static async (ctx, state) =>
                {
                    var endpoint = state.Self._endpoints.Current;
                    ctx.Properties.Set(EndpointKey, endpoint);
                    return await state.Call(endpoint, ctx.CancellationToken);
                },
                context,
                (Self: this, Call: call));
        }
        catch (RpcException ex) when (TlsFailure.Is(ex) || TlsFailure.Maybe(ex, AddressOf(context)))
        {
            throw await TlsFailure.DescribeAsync(ex, AddressOf(context), _options.CaCertificate, _options.ClientCertificate, _timeProvider, cancellationToken) ?? ex;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.Status.DebugException is not null)
        {
            throw new MasterUnreachableException(_endpoints.Known, ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Uri AddressOf(ResilienceContext context) =>
        context.Properties.TryGetValue(EndpointKey, out var endpoint) ? endpoint.Address : _endpoints.Current.Address;

    /// <summary>The leader a standby named in its FAILED_PRECONDITION or UNAVAILABLE trailer, or null when the error is no redirect.</summary>
    internal static Uri? LeaderOf(Exception? error)
    {
        if (error is RpcException { StatusCode: StatusCode.FailedPrecondition or StatusCode.Unavailable } ex
            && ex.Trailers.GetValue(SchedulerMetadata.LeaderTrailer) is { Length: > 0 } leader
            && Uri.TryCreate(leader, UriKind.Absolute, out var uri))
        {
            return uri;
        }

        return null;
    }

    /// <summary>
    /// The leader to switch to; null when there is none, when it is the master that just answered (a
    /// stale answer), or when it is a master this call already found unavailable (a standby that has
    /// not yet seen the old leader's lease lapse names the dead leader: following it would bounce).
    /// </summary>
    private Uri? RedirectTarget(ResilienceContext context, Exception? error)
    {
        var leader = LeaderOf(error);
        if (leader is null || !context.Properties.TryGetValue(EndpointKey, out var endpoint) || MasterEndpoints.SameAddress(endpoint.Address, leader))
        {
            return null;
        }

        return RecentlyUnreachable(context, leader) ? null : leader;
    }

    /// <summary>
    /// At once for a redirect, or to a master not yet found unreachable by this call; a short poll while
    /// standbys answer; otherwise an exponential backoff (with jitter) over the unreachable failures
    /// only, so the answers of standbys during an election do not grow it.
    /// </summary>
    private TimeSpan DelayFor(ResilienceContext context, Exception? error, Random random)
    {
        if (RetryAfter(error) is { } hint)
        {
            // Never sooner than the master asked; up to a tenth later, so refused callers do not return together.
            return hint + (hint * (random.NextDouble() / 10));
        }

        if (RedirectTarget(context, error) is not null)
        {
            return TimeSpan.Zero;
        }

        if (error is RpcException ex && IsStandbyWithoutLeader(ex))
        {
            return ElectionPoll * (0.5 + random.NextDouble());
        }

        var known = _endpoints.Known;
        if (known.Any(k => RecentlyUnreachable(context, k)) && known.Any(k => !RecentlyUnreachable(context, k)))
        {
            return TimeSpan.Zero;
        }

        var failures = context.Properties.GetValue(FailuresKey, 0) + 1;
        context.Properties.Set(FailuresKey, failures);
        var ceiling = Math.Min(_maxBackoff.TotalMilliseconds, _initialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 16)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (random.NextDouble() / 2)));
    }

    /// <summary>True when this call found <paramref name="address"/> unreachable within <see cref="UnreachableMemory"/>.</summary>
    private bool RecentlyUnreachable(ResilienceContext context, Uri address) =>
        context.Properties.TryGetValue(UnavailableKey, out var unavailable)
        && unavailable.TryGetValue(Key(address), out var at)
        && _timeProvider.GetElapsedTime(at) < UnreachableMemory;

    private static string Key(Uri address) => address.GetComponents(UriComponents.SchemeAndServer, UriFormat.Unescaped);

    private static bool IsStandbyWithoutLeader(RpcException ex) =>
        ex.StatusCode == StatusCode.FailedPrecondition && ex.Trailers.Get(SchedulerMetadata.LeaderTrailer) is not null;

    private static bool IsTransient(ResilienceContext context, RpcException ex) =>
        (ex.StatusCode == StatusCode.Unavailable && !TlsFailure.Is(ex))
        || IsStandbyWithoutLeader(ex)
        || (ex.StatusCode == StatusCode.DeadlineExceeded && context.Properties.GetValue(IdempotentKey, false));

    /// <summary>The wait a busy master asked for on RESOURCE_EXHAUSTED, or null when the error is no such refusal.</summary>
    internal static TimeSpan? RetryAfter(Exception? error) =>
        error is RpcException { StatusCode: StatusCode.ResourceExhausted } ex
        && ex.Trailers.GetValue(SchedulerMetadata.RetryAfterTrailer) is { Length: > 0 } text
        && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(Math.Min(ms, 60_000))
            : null;

    /// <summary>A busy refusal is retried up to <see cref="SchedulerClientOptions.MaxBusyRetries"/> times, outside the failure budget.</summary>
    private bool ShouldRetryBusy(ResilienceContext context)
    {
        var refusals = context.Properties.GetValue(BusyKey, 0);
        if (refusals >= _maxBusyRetries)
        {
            return false;
        }

        context.Properties.Set(BusyKey, refusals + 1);
        return true;
    }

    /// <summary>Busy refusals and other failures are counted apart: each kind has its own cap.</summary>
    private bool Handles(ResilienceContext context, Exception? error, int maxRetries)
    {
        if (RetryAfter(error) is not null)
        {
            return ShouldRetryBusy(context);
        }

        var retried = context.Properties.GetValue(RetriedKey, 0);
        if (retried >= maxRetries || !ShouldRetry(context, error))
        {
            return false;
        }

        context.Properties.Set(RetriedKey, retried + 1);
        return true;
    }

    private bool ShouldRetry(ResilienceContext context, Exception? error)
    {
        if (error is not RpcException ex || !IsTransient(context, ex))
        {
            return false;
        }

        if (!context.Properties.TryGetValue(FirstFailureKey, out var first))
        {
            context.Properties.Set(FirstFailureKey, _timeProvider.GetTimestamp());
            return true;
        }

        return _timeProvider.GetElapsedTime(first) < _budget;
    }

    private void OnFailure(ResilienceContext context, Exception? error)
    {
        if (!context.Properties.TryGetValue(EndpointKey, out var endpoint))
        {
            return;
        }

        if (error is RpcException { StatusCode: StatusCode.Unavailable, Status.DebugException: not null })
        {
            // Not reachable at all (refused, reset): remembered for this call only.
            if (!context.Properties.TryGetValue(UnavailableKey, out var unavailable))
            {
                unavailable = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
                context.Properties.Set(UnavailableKey, unavailable);
            }

            unavailable[Key(endpoint.Address)] = _timeProvider.GetTimestamp();
        }

        if (RedirectTarget(context, error) is { } leader)
        {
            _endpoints.FollowLeader(leader);
        }
        else
        {
            _endpoints.Advance(endpoint, address => RecentlyUnreachable(context, address));
        }
    }
}
