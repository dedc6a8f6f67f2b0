using System.Diagnostics;
using System.Text.Json;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Scheduler.Master.Leadership;

/// <summary>
/// Leader election on etcd, on a lease this master grants and keeps alive itself (never dotnet-etcd's
/// lease-less campaign, whose hidden 60 s session would block failover for a minute: PITFALLS).
/// The leader key (<c>PREFIX/leader</c>) is created in a transaction only when absent, attached to
/// that lease; it vanishes when the lease lapses or is revoked. Standbys read it to know who leads
/// and try to create it once it is gone. The key's create revision fences the term's store writes.
/// </summary>
internal sealed partial class EtcdElection : ILeaderElection
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly EtcdEndpoints _endpoints;
    private readonly ElectionOptions _options;
    private readonly ILogger _logger;
    private readonly ByteString _key;
    private LeaderRecord? _leader;
    private bool _outage;
    private bool _warnedTtl;

    private readonly Func<string> _address;

    public EtcdElection(ElectionOptions options, Func<string> address, ILogger<EtcdElection> logger)
    {
        _options = options;
        _address = address;
        _logger = logger;
        _endpoints = new EtcdEndpoints(options.Endpoints);
        LeaderKey = options.Prefix + "leader";
        _key = ByteString.CopyFromUtf8(LeaderKey);
    }

    public string LeaderKey { get; }

    public LeaderRecord? Leader => Volatile.Read(ref _leader);

    public async Task<ILeaderLease> CampaignAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var kv = new KV.KVClient(_endpoints.Current);
                var range = await kv.RangeAsync(new RangeRequest { Key = _key }, deadline: Deadline(), cancellationToken: cancellationToken);
                NoteReachable();
                if (range.Kvs.Count > 0)
                {
                    Volatile.Write(ref _leader, Parse(range.Kvs[0].Value));
                    await Task.Delay(_options.PollInterval, cancellationToken);
                    continue;
                }

                Volatile.Write(ref _leader, null);
                if (await TryCreateKeyAsync(cancellationToken) is { } lease)
                {
                    return lease;
                }
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                NoteUnreachable(ex);
                _endpoints.Rotate();
                await Task.Delay(_options.PollInterval, cancellationToken);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _endpoints.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Grants a lease and creates the leader key on it if nobody holds it; null when another master was first.</summary>
    private async Task<ILeaderLease?> TryCreateKeyAsync(CancellationToken cancellationToken)
    {
        var leaseClient = new Lease.LeaseClient(_endpoints.Current);
        var grantedAt = Stopwatch.GetTimestamp();
        var ttlSeconds = (long)Math.Ceiling(_options.LeaseTtl.TotalSeconds);
        var grant = await leaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, deadline: Deadline(), cancellationToken: cancellationToken);
        if (grant.Error.Length > 0)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "lease grant refused: " + grant.Error));
        }

        if (grant.TTL > ttlSeconds && !_warnedTtl)
        {
            // etcd's floor is 1.5 × its election timeout, rounded up: 2 s with its default timings.
            _warnedTtl = true;
            var budget = _options.BudgetCheck?.Invoke(TimeSpan.FromSeconds(grant.TTL));
            LogLongerLease(grant.TTL, ttlSeconds, budget ?? "the failover budget still holds");
        }

        var lease = new EtcdLeaderLease(this, grant.ID, TimeSpan.FromSeconds(grant.TTL), grantedAt);
        try
        {
            var record = new LeaderRecord(_options.MasterId, _address(), 0, DateTimeOffset.UtcNow);
            var txn = new TxnRequest
            {
                Compare = { new Compare { Key = _key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = _key, Value = Serialize(record), Lease = grant.ID } } },
            };
            var kv = new KV.KVClient(_endpoints.Current);
            var response = await kv.TxnAsync(txn, deadline: Deadline(), cancellationToken: cancellationToken);
            if (!response.Succeeded)
            {
                await lease.DisposeAsync();
                return null;
            }

            lease.Fence = new Store.EtcdFence(LeaderKey, response.Header.Revision);
            LogWon(_options.MasterId, response.Header.Revision, grant.TTL);
            return lease;
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
    }

    private DateTime Deadline() => DateTime.UtcNow + _options.CallTimeout;

    private void NoteReachable()
    {
        if (_outage)
        {
            _outage = false;
            LogReachable(string.Join(',', _endpoints.Urls));
        }
    }

    private void NoteUnreachable(RpcException ex)
    {
        if (!_outage)
        {
            _outage = true;
            LogUnreachable(string.Join(',', _endpoints.Urls), ex.StatusCode.ToString(), ex.Status.Detail);
        }
    }

    private static ByteString Serialize(LeaderRecord record) => ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(record, Json));

    private static LeaderRecord? Parse(ByteString value)
    {
        try
        {
            return JsonSerializer.Deserialize<LeaderRecord>(value.Span, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Master {MasterId} won the election (leader key revision {Revision}, lease TTL {TtlSeconds} s)")]
    private partial void LogWon(string masterId, long revision, long ttlSeconds);

    [LoggerMessage(2, LogLevel.Warning, "etcd at {Endpoints} is unreachable ({Status}: {Detail}); not leading until it answers")]
    private partial void LogUnreachable(string endpoints, string status, string detail);

    [LoggerMessage(3, LogLevel.Information, "etcd at {Endpoints} answers again")]
    private partial void LogReachable(string endpoints);

    [LoggerMessage(5, LogLevel.Warning, "etcd granted a leader lease of {Granted} s, longer than the {Requested} s asked for (its minimum is 1.5 × its election timeout); {Budget}")]
    private partial void LogLongerLease(long granted, long requested, string budget);

    [LoggerMessage(4, LogLevel.Warning, "Leader lease {LeaseId} lost: {Reason}")]
    private partial void LogLeaseLost(long leaseId, string reason);

    [LoggerMessage(6, LogLevel.Warning, "etcd serves no JSON gateway ({Detail}): the leader lease is renewed over gRPC, whose answers wait for the thread pool; run etcd with its gateway (the default) so a busy master keeps its lease")]
    private partial void LogNoGateway(string detail);

    /// <summary>
    /// The lease behind a term. A thread of its own renews it every quarter of its TTL (blocking calls
    /// through <see cref="LeaseRenewer"/>, so neither the scheduling loop nor a backed-up thread pool
    /// can hold a renewal back); the lease counts as held until the last renewal's send time plus its
    /// TTL (less a margin), by this process's monotonic clock — a pause past that ends the term even
    /// before etcd is asked again. A renewal that fails is tried again on the next member at once.
    /// </summary>
    private sealed class EtcdLeaderLease : ILeaderLease
    {
        private readonly EtcdElection _election;
        private readonly long _id;
        private readonly TimeSpan _ttl;
        private readonly TimeSpan _margin;
        private readonly CancellationTokenSource _lost = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _keepAliveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly LeaseRenewer _renewer;
        private bool _overGrpc;
        private long _validUntil;

        public EtcdLeaderLease(EtcdElection election, long id, TimeSpan ttl, long grantedAt)
        {
            _election = election;
            _id = id;
            _ttl = ttl;
            _margin = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, ttl.Ticks / 10));
            _validUntil = grantedAt + Ticks(ttl - _margin);

            // Each call may take at most half the lease: a member that does not answer is left in time to ask another.
            _renewer = new LeaseRenewer(election._endpoints.Urls, ttl / 2);
            new Thread(KeepAlive) { IsBackground = true, Name = "etcd leader lease keep-alive" }.Start();
        }

        public CancellationToken Lost => _lost.Token;

        public bool IsValid => !_lost.IsCancellationRequested && Stopwatch.GetTimestamp() < Volatile.Read(ref _validUntil);

        public Store.EtcdFence? Fence { get; set; }

        public async Task PublishAsync(LeaderRecord leader, CancellationToken cancellationToken)
        {
            Volatile.Write(ref _election._leader, leader);
            var fence = Fence ?? throw new InvalidOperationException("no leader key yet");
            var txn = new TxnRequest
            {
                Compare = { new Compare { Key = _election._key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = fence.CreateRevision } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = _election._key, Value = Serialize(leader), Lease = _id } } },
            };
            var response = await new KV.KVClient(_election._endpoints.Current).TxnAsync(txn, deadline: _election.Deadline(), cancellationToken: cancellationToken);
            if (!response.Succeeded)
            {
                throw new Store.LeadershipLostException($"leader key {fence.Key} is no longer this master's (revision {fence.CreateRevision})");
            }
        }

        public async Task ResignAsync(CancellationToken cancellationToken)
        {
            // Deleting the key (only if still ours) lets a standby take over at once; revoking
            // the lease does the same and frees it.
            if (Fence is { } fence)
            {
                var txn = new TxnRequest
                {
                    Compare = { new Compare { Key = _election._key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = fence.CreateRevision } },
                    Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = _election._key } } },
                };
                await new KV.KVClient(_election._endpoints.Current).TxnAsync(txn, deadline: _election.Deadline(), cancellationToken: cancellationToken);
            }

            Volatile.Write(ref _election._leader, null);
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await _keepAliveEnded.Task;
            _renewer.Dispose();
            Lose("the term ended");
            try
            {
                await new Lease.LeaseClient(_election._endpoints.Current).LeaseRevokeAsync(
                    new LeaseRevokeRequest { ID = _id }, deadline: _election.Deadline());
            }
            catch (RpcException)
            {
                // Unreachable or already expired: it lapses on its own after its TTL.
            }

            _lost.Dispose();
            _stop.Dispose();
        }

        private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

        private void Lose(string reason)
        {
            if (!_lost.IsCancellationRequested)
            {
                if (!_stop.IsCancellationRequested)
                {
                    _election.LogLeaseLost(_id, reason);
                }

                _lost.Cancel();
            }
        }

        // One keep-alive round trip over gRPC, waited for on this thread (at most half the TTL).
        private long RenewOverGrpc()
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            wait.CancelAfter(_ttl / 2);
            using var call = new Lease.LeaseClient(_election._endpoints.Current).LeaseKeepAlive(cancellationToken: wait.Token);
            return Task.Run(async () =>
            {
                await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = _id }, wait.Token);
                await call.RequestStream.CompleteAsync();
                return await call.ResponseStream.MoveNext(wait.Token)
                    ? call.ResponseStream.Current.TTL
                    : throw new RpcException(new Status(StatusCode.Unavailable, "keep-alive stream closed"));
            }).GetAwaiter().GetResult();
        }

        /// <summary>The keep-alive thread: renews every quarter of the TTL until stopped or the lease is lost.</summary>
        private void KeepAlive()
        {
            try
            {
                var interval = _ttl / 4;
                while (!_stop.IsCancellationRequested)
                {
                    var now = Stopwatch.GetTimestamp();
                    if (Volatile.Read(ref _validUntil) - now <= 0)
                    {
                        Lose($"not renewed within its TTL of {_ttl.TotalSeconds:0.#} s");
                        return;
                    }

                    long ttl;
                    try
                    {
                        ttl = _overGrpc ? RenewOverGrpc() : _renewer.Renew(_id);
                    }
                    catch (HttpRequestException ex) when (LeaseRenewer.NoGateway(ex) && !_stop.IsCancellationRequested)
                    {
                        // No JSON gateway on this etcd: renew over gRPC instead, as before the renewal
                        // thread (its answers are read on the thread pool, so a backed-up pool can delay them).
                        _overGrpc = true;
                        _election.LogNoGateway(ex.Message);
                        continue;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or RpcException or OperationCanceledException && !_stop.IsCancellationRequested)
                    {
                        // That member did not answer: the next call asks the next one, after a short breath.
                        if (_overGrpc)
                        {
                            _election._endpoints.Rotate();
                        }

                        _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(50));
                        continue;
                    }

                    if (ttl <= 0)
                    {
                        Lose("etcd reports it expired");
                        return;
                    }

                    // Counted from the send: etcd restarted the lease's TTL no earlier than that.
                    var until = now + Ticks(TimeSpan.FromSeconds(ttl) - _margin);
                    if (until > Volatile.Read(ref _validUntil))
                    {
                        Volatile.Write(ref _validUntil, until);
                    }

                    // Its own wait, not a timer of the thread pool's.
                    _stop.Token.WaitHandle.WaitOne(interval);
                }
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException && _stop.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // Never silently: a keep-alive that stopped renewing must end the term now, not at the next command.
                Lose($"its keep-alive failed: {ex.Message}");
            }
            finally
            {
                _keepAliveEnded.TrySetResult();
            }
        }
    }
}

/// <summary>What the etcd election needs to know.</summary>
internal sealed record ElectionOptions
{
    public required string Endpoints { get; init; }

    public string Prefix { get; init; } = "/scheduler/";

    public required string MasterId { get; init; }

    /// <summary>The lease's time to live; etcd rounds it up to whole seconds (and to its own minimum).</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a standby reads the leader key.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks the failover budget against the lease etcd actually granted; null when it holds.</summary>
    public Func<TimeSpan, string?>? BudgetCheck { get; init; }
}
