using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Mvccpb;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Store;

/// <summary>
/// The store for highly available masters: every record is a key under <see cref="EtcdStoreOptions.Prefix"/>.
/// <list type="bullet">
/// <item><c>meta/epoch</c>: the highest epoch begun, a decimal number, changed only by compare-and-swap.</item>
/// <item><c>specs/ID</c>: a job's immutable part (sequence, request id, JobSpec bytes), written once.</item>
/// <item><c>jobs/ID</c>: a job's status, the same JSON row as SQLite's, replaced on every save.</item>
/// <item><c>nodes/ID</c>: a node record as JSON.</item>
/// </list>
/// With a <see cref="Fence"/> set, every write is a transaction that commits only while the
/// fence key still has the create revision of this term, so a deposed leader cannot write.
/// A standby calls <see cref="StartFollowing"/>: an <see cref="EtcdMirror"/> then keeps a copy of
/// the prefix current, and <see cref="LoadAsync"/> builds the state from it instead of reading everything.
/// </summary>
internal sealed class EtcdStateStore : IStateStore
{
    private const int PageSize = 500;
    private const int MaxEpochAttempts = 16;
    private static readonly TimeSpan MaxMirrorWait = TimeSpan.FromSeconds(2);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly EtcdClient _client;
    private readonly EtcdStoreOptions _options;
    private readonly string _epochKey;
    private readonly string _specsPrefix;
    private readonly string _jobsPrefix;
    private readonly string _nodesPrefix;

    // Jobs whose spec key this store has seen stored: their saves write the status only.
    private readonly ConcurrentDictionary<string, byte> _storedSpecs = new(StringComparer.Ordinal);
    private readonly Lock _mirrorLock = new();
    private volatile EtcdFence? _fence;
    private volatile EtcdMirror? _mirror;
    private int _fullReads;

    private EtcdStateStore(EtcdClient client, EtcdStoreOptions options)
    {
        _client = client;
        _options = options;
        _epochKey = options.Prefix + "meta/epoch";
        _specsPrefix = options.Prefix + "specs/";
        _jobsPrefix = options.Prefix + "jobs/";
        _nodesPrefix = options.Prefix + "nodes/";
    }

    public string Kind => "etcd";

    /// <summary>The leader key every write is conditional on; null writes unconditionally (no election yet).</summary>
    public EtcdFence? Fence
    {
        get => _fence;
        set => _fence = value;
    }

    /// <summary>The revision the mirror is current at; 0 when not following or before its first snapshot.</summary>
    public long MirrorRevision => _mirror?.Revision ?? 0;

    /// <summary>How many times every key under the prefix was read: snapshot loads, the mirror's included.</summary>
    internal int FullReads => Volatile.Read(ref _fullReads);

    /// <summary>Connects to etcd and checks that it answers, so a wrong address is reported at start-up.</summary>
    public static async Task<EtcdStateStore> OpenAsync(EtcdStoreOptions options, CancellationToken cancellationToken)
    {
        Validate(options);
        var client = new EtcdClient(options.Endpoints);
        var store = new EtcdStateStore(client, options);
        try
        {
            await store.CallAsync(
                (deadline, ct) => client.GetAsync(new RangeRequest { Key = Bytes(store._epochKey), CountOnly = true }, deadline: deadline, cancellationToken: ct),
                "first read",
                cancellationToken);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        return store;
    }

    public Task<long> BeginTermAsync(CancellationToken cancellationToken) =>
        UpdateEpochAsync(current => current + 1, cancellationToken);

    public Task<long> RaiseEpochAsync(long atLeast, CancellationToken cancellationToken) =>
        UpdateEpochAsync(current => Math.Max(current, atLeast), cancellationToken);

    /// <summary>
    /// Starts keeping a copy of every key under the prefix current in memory (once; later calls do
    /// nothing), so that <see cref="LoadAsync"/> need not read the whole store when this master takes over.
    /// </summary>
    public void StartFollowing(ILogger? logger = null)
    {
        lock (_mirrorLock)
        {
            if (_mirror is not null)
            {
                return;
            }

            var endpoints = _options.Endpoints.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var mirror = new EtcdMirror(endpoints, Bytes(_options.Prefix), PrefixEnd(_options.Prefix), ReadAllAsync, TimeProvider.System, logger ?? NullLogger.Instance);
            mirror.Start();
            _mirror = mirror;
        }
    }

    /// <summary>Stops the mirror and waits until its watch has ended; <see cref="LoadAsync"/> then reads snapshots again.</summary>
    public async Task StopFollowingAsync()
    {
        EtcdMirror? mirror;
        lock (_mirrorLock)
        {
            mirror = _mirror;
            _mirror = null;
        }

        if (mirror is not null)
        {
            await mirror.DisposeAsync();
        }
    }

    public async Task<StoredState> LoadAsync(CancellationToken cancellationToken)
    {
        if (_mirror is { } mirror && await FromMirrorAsync(mirror, cancellationToken) is { } state)
        {
            return state;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await LoadSnapshotAsync(cancellationToken);
            }
            catch (StoreException ex) when (attempt < 3 && ex.InnerException is RpcException { StatusCode: StatusCode.OutOfRange })
            {
                // The revision being read was compacted away meanwhile: read again at the latest one.
            }
        }
    }

    /// <summary>
    /// The state from the mirror once it holds what etcd holds now (so nothing committed before
    /// this call is missing), or null when it does not catch up within a short wait.
    /// </summary>
    private async Task<StoredState?> FromMirrorAsync(EtcdMirror mirror, CancellationToken cancellationToken)
    {
        var wait = _options.CallTimeout < MaxMirrorWait ? _options.CallTimeout : MaxMirrorWait;
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var view = mirror.View;
            if (view.Revision > 0 && await IsCurrentAsync(view, cancellationToken))
            {
                var specs = new List<KeyValue>();
                var statuses = new List<KeyValue>();
                var nodes = new List<KeyValue>();
                foreach (var (key, kv) in view.Values)
                {
                    var list = key.StartsWith(_specsPrefix, StringComparison.Ordinal) ? specs
                        : key.StartsWith(_jobsPrefix, StringComparison.Ordinal) ? statuses
                        : key.StartsWith(_nodesPrefix, StringComparison.Ordinal) ? nodes
                        : null;
                    list?.Add(kv);
                }

                return ToState(specs, statuses, nodes);
            }

            var left = wait - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero || !await mirror.WaitForNewerAsync(view.Revision, left, cancellationToken))
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Whether the prefix in etcd now is what <paramref name="view"/> holds, in one read: no key
    /// changed after the view's revision, and as many keys as the view has (so none was deleted).
    /// The cluster's revision alone cannot tell: writes outside the prefix raise it too, and etcd
    /// 3.4 before 3.4.24 may answer a progress request ahead of the events it still has to send.
    /// </summary>
    private async Task<bool> IsCurrentAsync(MirrorView view, CancellationToken cancellationToken)
    {
        // etcd filters by mod revision after reading the range, and counts before filtering.
        var probe = new RangeRequest { Key = Bytes(_options.Prefix), RangeEnd = PrefixEnd(_options.Prefix), KeysOnly = true, MinModRevision = view.Revision + 1, Limit = 1 };
        var response = await CallAsync(
            (deadline, ct) => _client.GetAsync(probe, deadline: deadline, cancellationToken: ct),
            "read of the changes since revision " + view.Revision.ToString(CultureInfo.InvariantCulture),
            cancellationToken);
        return response.Kvs.Count == 0 && response.Count == view.Values.Count;
    }

    private async Task<StoredState> LoadSnapshotAsync(CancellationToken cancellationToken)
    {
        // All three ranges read at one revision: a consistent snapshot even while a leader writes.
        Interlocked.Increment(ref _fullReads);
        var (specs, revision) = await RangeAsync(_specsPrefix, 0, cancellationToken);
        var (statuses, _) = await RangeAsync(_jobsPrefix, revision, cancellationToken);
        var (nodeValues, _) = await RangeAsync(_nodesPrefix, revision, cancellationToken);
        return ToState(specs, statuses, nodeValues);
    }

    /// <summary>Every key under the prefix at one revision, for the mirror.</summary>
    private Task<(List<KeyValue> Values, long Revision)> ReadAllAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _fullReads);
        return RangeAsync(_options.Prefix, 0, cancellationToken);
    }

    /// <summary>Jobs and nodes from the keys of one revision; a job's status without its spec, or a value that does not parse, is an error.</summary>
    private StoredState ToState(List<KeyValue> specs, List<KeyValue> statuses, List<KeyValue> nodeValues)
    {
        var specById = new Dictionary<string, KeyValue>(StringComparer.Ordinal);
        foreach (var kv in specs)
        {
            specById[kv.Key.ToStringUtf8()[_specsPrefix.Length..]] = kv;
        }

        var jobs = new List<JobRecord>(statuses.Count);
        foreach (var kv in statuses)
        {
            var key = kv.Key.ToStringUtf8();
            var id = key[_jobsPrefix.Length..];
            if (!specById.TryGetValue(id, out var specKv))
            {
                throw new StoreException($"etcd key {key} has no {_specsPrefix}{id} beside it: delete that key, or restore etcd from a snapshot");
            }

            try
            {
                var identity = JsonSerializer.Deserialize<JobIdentityRow>(specKv.Value.Span, Json) ?? throw new JsonException("the spec row is null");
                var spec = JobSpec.Parser.ParseFrom(identity.Spec);
                var status = JsonSerializer.Deserialize(kv.Value.Span, StoreJson.Default.JobStatusRow) ?? throw new JsonException("the status is null");
                jobs.Add(status.ToRecord(id, identity.Sequence, identity.RequestId, spec));
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or JsonException or FormatException or NotSupportedException)
            {
                throw new StoreException($"job {id} in etcd ({key}) cannot be read ({ex.Message}): fix or delete its keys, or restore etcd from a snapshot", ex);
            }

            _storedSpecs.TryAdd(id, 0);
        }

        jobs.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));

        var nodes = new List<NodeRecord>(nodeValues.Count);
        foreach (var kv in nodeValues)
        {
            try
            {
                nodes.Add(JsonSerializer.Deserialize<NodeRecord>(kv.Value.Span, Json) ?? throw new JsonException("the record is null"));
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException)
            {
                throw new StoreException($"node key {kv.Key.ToStringUtf8()} in etcd cannot be read ({ex.Message}): delete it (the worker registers again), or restore etcd from a snapshot", ex);
            }
        }

        return new StoredState(jobs, nodes);
    }

    /// <summary>
    /// Writes the batch in as few transactions as etcd's limits allow. A batch within
    /// <see cref="EtcdStoreOptions.MaxTxnOps"/> and <see cref="EtcdStoreOptions.MaxTxnBytes"/> is
    /// one transaction (all or none); a larger one is split into such transactions of whole jobs,
    /// committed in order, each fenced, so a failure stores a prefix of the batch.
    /// </summary>
    public Task SaveJobsAsync(IReadOnlyCollection<JobRecord> jobs, CancellationToken cancellationToken) =>
        SaveAsync(jobs, [], cancellationToken);

    /// <summary>
    /// Jobs and nodes in as few transactions as etcd's limits allow, as <see cref="SaveJobsAsync"/>: the
    /// group write of a loop batch, so a batch of registrations costs one round trip, not one each.
    /// </summary>
    public async Task SaveAsync(IReadOnlyCollection<JobRecord> jobs, IReadOnlyCollection<NodeRecord> nodes, CancellationToken cancellationToken)
    {
        // etcd refuses a transaction that writes one key twice: the last record of a job wins, as in SQLite.
        var latest = new Dictionary<string, JobRecord>(StringComparer.Ordinal);
        foreach (var job in jobs)
        {
            latest[job.Id] = job;
        }

        var latestNodes = new Dictionary<string, NodeRecord>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            latestNodes[node.Id] = node;
        }

        // A guarded spec write is a nested transaction of one operation, which etcd counts
        // against the outer transaction's budget.
        var maxOps = Math.Max(2, _options.MaxTxnOps - 1);
        var chunks = new List<(List<RequestOp> Ops, List<string> Ids)>();
        var chunk = new List<RequestOp>();
        var chunkIds = new List<string>();
        var chunkBytes = 0;
        var items = latest.Values.Select(job => (Ops: JobOps(job), JobId: (string?)job.Id))
            .Concat(latestNodes.Values.Select(node => (Ops: new List<RequestOp> { NodeOp(node) }, JobId: (string?)null)));
        var records = 0;
        foreach (var (ops, jobId) in items)
        {
            var size = ops.Sum(op => op.CalculateSize());
            if (chunk.Count > 0 && (chunk.Count + ops.Count > maxOps || chunkBytes + size > _options.MaxTxnBytes))
            {
                chunks.Add((chunk, chunkIds));
                chunk = [];
                chunkIds = [];
                chunkBytes = 0;
            }

            chunk.AddRange(ops);
            if (jobId is not null)
            {
                chunkIds.Add(jobId);
            }

            chunkBytes += size;
            records++;
        }

        if (chunk.Count > 0)
        {
            chunks.Add((chunk, chunkIds));
        }

        if (chunks.Count == 1)
        {
            await CommitJobsAsync(chunks[0].Ops, chunks[0].Ids, cancellationToken);
            return;
        }

        // The transactions of one write go out together: etcd commits concurrent proposals with one
        // disk sync, so a write of many costs about one round trip instead of one per transaction.
        var commits = chunks.Select(c => CommitJobsAsync(c.Ops, c.Ids, cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(commits);
        }
        catch (Exception)
        {
            var errors = commits.Where(c => !c.IsCompletedSuccessfully)
                .Select(c => c.Exception?.GetBaseException() ?? new OperationCanceledException(cancellationToken))
                .ToList();

            // Leadership lost or a stop: the term ends either way. A write etcd may have applied says so.
            if (errors.FirstOrDefault(e => e is LeadershipLostException or OperationCanceledException) is { } ending)
            {
                throw ending;
            }

            var committed = commits.Count(c => c.IsCompletedSuccessfully);
            if (committed == 0)
            {
                throw errors.FirstOrDefault(e => e is StoreUnavailableException { MayHaveApplied: true }) ?? errors[0];
            }

            // Some committed, some not: the store holds part of the write. Said as such, so the term ends
            // and the next reloads it, rather than as a plain failure whose retry could store a job twice.
            throw new PartialWriteException($"etcd stored {committed} of the {chunks.Count} transactions of a write of {records} records, then failed: {errors[0].Message}", errors[0]);
        }
    }

    public async Task SaveNodeAsync(NodeRecord node, CancellationToken cancellationToken) =>
        await CommitAsync([NodeOp(node)], cancellationToken);

    private RequestOp NodeOp(NodeRecord node) => Put(_nodesPrefix + node.Id, JsonSerializer.SerializeToUtf8Bytes(node, Json));

    public async ValueTask DisposeAsync()
    {
        await StopFollowingAsync();
        _client.Dispose();
    }

    private async Task CommitJobsAsync(List<RequestOp> ops, List<string> ids, CancellationToken cancellationToken)
    {
        await CommitAsync(ops, cancellationToken);
        foreach (var id in ids)
        {
            _storedSpecs.TryAdd(id, 0);
        }
    }

    /// <summary>The status put, preceded by a put of the spec that applies only if the job has none yet (the spec never changes).</summary>
    private List<RequestOp> JobOps(JobRecord job)
    {
        var status = Put(_jobsPrefix + job.Id, JsonSerializer.SerializeToUtf8Bytes(JobStatusRow.From(job), StoreJson.Default.JobStatusRow));
        if (_storedSpecs.ContainsKey(job.Id))
        {
            return [status];
        }

        var specKey = _specsPrefix + job.Id;
        var identity = JsonSerializer.SerializeToUtf8Bytes(new JobIdentityRow(job.Sequence, job.RequestId, job.Spec.ToByteArray()), Json);
        var guarded = new TxnRequest
        {
            Compare = { new Compare { Key = Bytes(specKey), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
            Success = { Put(specKey, identity) },
        };
        return [new RequestOp { RequestTxn = guarded }, status];
    }

    /// <summary>Reads the epoch and swaps in <paramref name="next"/> of it if nobody changed it meanwhile.</summary>
    private async Task<long> UpdateEpochAsync(Func<long, long> next, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var range = await CallAsync(
                (deadline, ct) => _client.GetAsync(new RangeRequest { Key = Bytes(_epochKey) }, deadline: deadline, cancellationToken: ct),
                "read of the epoch",
                cancellationToken);
            var current = range.Kvs.Count == 0 ? (KeyValue?)null : range.Kvs[0];
            var stored = current is null ? 0 : ParseEpoch(current);
            var wanted = next(stored);
            if (current is not null && wanted == stored)
            {
                return stored;
            }

            // A missing key has mod revision 0, so the same compare covers the first write.
            var swap = new TxnRequest
            {
                Compare = { new Compare { Key = Bytes(_epochKey), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = current?.ModRevision ?? 0 } },
                Success = { Put(_epochKey, Encoding.UTF8.GetBytes(wanted.ToString(CultureInfo.InvariantCulture))) },
            };
            var response = await CommitAsync([new RequestOp { RequestTxn = swap }], cancellationToken);
            if (response.Responses[0].ResponseTxn.Succeeded)
            {
                return wanted;
            }

            if (attempt == MaxEpochAttempts)
            {
                throw new StoreUnavailableException($"the epoch at etcd key {_epochKey} changed under this master {MaxEpochAttempts} times in a row: another master is writing it; try again later");
            }
        }
    }

    private long ParseEpoch(KeyValue kv) =>
        long.TryParse(kv.Value.ToStringUtf8(), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
            ? epoch
            : throw new StoreException($"etcd key {_epochKey} holds \"{kv.Value.ToStringUtf8()}\", not an epoch: set it to the highest epoch the cluster used, or restore etcd from a snapshot");

    /// <summary>Commits <paramref name="ops"/> as one transaction, conditional on the fence when one is set.</summary>
    private async Task<TxnResponse> CommitAsync(IEnumerable<RequestOp> ops, CancellationToken cancellationToken)
    {
        var fence = _fence;
        var txn = new TxnRequest();
        if (fence is not null)
        {
            txn.Compare.Add(new Compare
            {
                Key = Bytes(fence.Key),
                Target = Compare.Types.CompareTarget.Create,
                Result = Compare.Types.CompareResult.Equal,
                CreateRevision = fence.CreateRevision,
            });
        }

        txn.Success.AddRange(ops);
        var response = await CallAsync(
            (deadline, ct) => _client.TransactionAsync(txn, deadline: deadline, cancellationToken: ct),
            "write",
            cancellationToken);
        if (!response.Succeeded)
        {
            throw new LeadershipLostException(
                $"etcd refused the write: leader key {fence!.Key} no longer has create revision {fence.CreateRevision} (its lease expired or another master leads now); nothing was stored");
        }

        return response;
    }

    /// <summary>Every key under <paramref name="prefix"/>, in pages, at <paramref name="revision"/> (0: the latest, returned).</summary>
    private async Task<(List<KeyValue> Values, long Revision)> RangeAsync(string prefix, long revision, CancellationToken cancellationToken)
    {
        var values = new List<KeyValue>();
        var from = Bytes(prefix);
        var end = PrefixEnd(prefix);
        while (true)
        {
            var request = new RangeRequest { Key = from, RangeEnd = end, Limit = PageSize, Revision = revision };
            var response = await CallAsync(
                (deadline, ct) => _client.GetAsync(request, deadline: deadline, cancellationToken: ct),
                "read of " + prefix,
                cancellationToken);
            if (revision == 0)
            {
                revision = response.Header.Revision;
            }

            values.AddRange(response.Kvs);
            if (!response.More || response.Kvs.Count == 0)
            {
                return (values, revision);
            }

            // Keys come sorted; the next page starts just after the last key of this one.
            from = ByteString.CopyFrom([.. response.Kvs[^1].Key.Span, 0]);
        }
    }

    /// <summary>Runs one call under the store's deadline and turns etcd's failures into the store's exceptions.</summary>
    private async Task<T> CallAsync<T>(Func<DateTime, CancellationToken, Task<T>> call, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await call(DateTime.UtcNow + _options.CallTimeout, cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            throw new StoreUnavailableException(
                $"etcd at {_options.Endpoints} did not complete the {what} within {_options.CallTimeout.TotalSeconds:0.#} s ({ex.StatusCode}: {ex.Status.Detail}): " +
                "it is down, unreachable or without a leader; a write may or may not have been applied", ex)
            {
                MayHaveApplied = true,
            };
        }
        catch (RpcException ex) when (ex.StatusCode is not StatusCode.Cancelled)
        {
            throw new StoreException($"etcd at {_options.Endpoints} refused the {what} ({ex.StatusCode}: {ex.Status.Detail})", ex);
        }        catch (Exception ex) when (ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled } && !cancellationToken.IsCancellationRequested)
        {
            // Nobody cancelled it: the client library gave up on the deadline its own way.
            throw new StoreUnavailableException(
                $"etcd at {_options.Endpoints} did not complete the {what} within {_options.CallTimeout.TotalSeconds:0.#} s (cancelled by the client): " +
                "it is down, unreachable or without a leader; a write may or may not have been applied", ex)
            {
                MayHaveApplied = true,
            };
        }
    }

    private static void Validate(EtcdStoreOptions options)
    {
        var endpoints = options.Endpoints.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (endpoints.Length == 0 || endpoints.Any(e => !Uri.TryCreate(e, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            throw new StoreException($"etcd endpoints \"{options.Endpoints}\" are not a comma-separated list of http:// or https:// URLs");
        }

        if (!options.Prefix.StartsWith('/') || !options.Prefix.EndsWith('/'))
        {
            throw new StoreException($"etcd prefix \"{options.Prefix}\" must start and end with '/'");
        }

        if (options.CallTimeout <= TimeSpan.Zero || options.MaxTxnOps < 3 || options.MaxTxnBytes <= 0)
        {
            throw new StoreException("etcd call timeout, transaction operations (at least 3) and transaction bytes must be positive");
        }
    }

    public async Task DeleteJobsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        // Two keys per job (status, then spec, so a reader never finds a status without its spec).
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(Math.Max(1, _options.MaxTxnOps / 2)))
        {
            await CommitAsync([.. chunk.SelectMany(id => new[] { Delete(_jobsPrefix + id), Delete(_specsPrefix + id) })], cancellationToken);
            foreach (var id in chunk)
            {
                _storedSpecs.TryRemove(id, out _);
            }
        }
    }

    private static RequestOp Delete(string key) =>
        new() { RequestDeleteRange = new DeleteRangeRequest { Key = Bytes(key) } };

    private static RequestOp Put(string key, byte[] value) =>
        new() { RequestPut = new PutRequest { Key = Bytes(key), Value = ByteString.CopyFrom(value) } };

    private static ByteString Bytes(string key) => ByteString.CopyFromUtf8(key);

    /// <summary>The smallest key after every key that starts with <paramref name="prefix"/>.</summary>
    private static ByteString PrefixEnd(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] < 0xff)
            {
                bytes[i]++;
                return ByteString.CopyFrom(bytes, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0);
    }

    /// <summary>The immutable part of a job, written once under <c>specs/ID</c>.</summary>
    private sealed record JobIdentityRow(long Sequence, string RequestId, byte[] Spec);
}
