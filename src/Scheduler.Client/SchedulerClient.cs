using System.Runtime.CompilerServices;
using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Client;

/// <summary>
/// Typed access to the scheduler's Jobs and Admin services that follows the leader and retries transient
/// failures. Every call here is safe to retry, even after a timed-out attempt: Submit carries an idempotency
/// key, the rest are reads or converge to the same state when repeated.
/// </summary>
public sealed class SchedulerClient : IAsyncDisposable, IDisposable
{
    // The master's largest page: fewer round trips for long lists.
    private const int MaxPageSize = 1000;

    private readonly SchedulerClientOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly MasterEndpoints _endpoints;
    private readonly CallRetryPolicy _retry;
    private readonly Metadata? _headers;

    /// <summary>Creates a client; no connection is made until the first call.</summary>
    public SchedulerClient(SchedulerClientOptions options)
        : this(options, TimeProvider.System, new Random())
    {
    }

    internal SchedulerClient(SchedulerClientOptions options, TimeProvider timeProvider, Random random)
    {
        options.Validate();
        _options = options;
        _timeProvider = timeProvider;
        _endpoints = new MasterEndpoints(options);
        _retry = new CallRetryPolicy(options, _endpoints, timeProvider, random);
        _headers = string.IsNullOrEmpty(options.Token) ? null : new Metadata { { "authorization", "Bearer " + options.Token } };
    }

    /// <summary>The master address calls currently go to (the leader, once one answered).</summary>
    public Uri CurrentAddress => _endpoints.Current.Address;

    /// <summary>Submits a job. A missing <paramref name="requestId"/> is generated once and reused by every retry, so a retried submit never creates a second job.</summary>
    public Task<SubmitJobResponse> SubmitAsync(JobSpec spec, string? requestId, CancellationToken cancellationToken)
    {
        var request = new SubmitJobRequest { Spec = spec, RequestId = string.IsNullOrEmpty(requestId) ? Guid.NewGuid().ToString("N") : requestId };
        return UnaryAsync((e, o) => e.Jobs.SubmitAsync(request, o), cancellationToken);
    }

    /// <summary>
    /// Creates the jobs of <paramref name="items"/> (spec and request id each; a missing id gets a new
    /// one) in one call, all or none; the answer holds one result per item, in order.
    /// </summary>
    public Task<SubmitJobBatchResponse> SubmitBatchAsync(IEnumerable<(JobSpec Spec, string? RequestId)> items, CancellationToken cancellationToken)
    {
        var request = new SubmitJobBatchRequest();
        request.Items.Add(items.Select(i => new SubmitJobRequest
        {
            Spec = i.Spec,
            RequestId = string.IsNullOrEmpty(i.RequestId) ? Guid.NewGuid().ToString("N") : i.RequestId,
        }));
        return UnaryAsync((e, o) => e.Jobs.SubmitBatchAsync(request, o), cancellationToken);
    }

    /// <summary>One job by id; NOT_FOUND for an unknown id.</summary>
    public Task<Job> GetJobAsync(string jobId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.GetAsync(new GetJobRequest { Id = jobId }, o), cancellationToken);

    /// <summary>
    /// Jobs, newest first, in any of <paramref name="states"/> (all when empty); at most <paramref name="limit"/>
    /// (0 for all), fetched a page at a time.
    /// </summary>
    public async Task<IReadOnlyList<Job>> ListJobsAsync(IEnumerable<JobState>? states, int limit, CancellationToken cancellationToken)
    {
        var request = new ListJobsRequest();
        if (states is not null)
        {
            request.States.Add(states);
        }

        var jobs = new List<Job>();
        do
        {
            request.PageSize = limit == 0 ? MaxPageSize : Math.Min(limit - jobs.Count, MaxPageSize);
            var response = await ListJobsPageAsync(request, cancellationToken);
            jobs.AddRange(response.Jobs);
            request.PageToken = response.NextPageToken;
        }
        while (request.PageToken.Length > 0 && (limit == 0 || jobs.Count < limit));

        return jobs;
    }

    /// <summary>One page of jobs; pass the response's <c>NextPageToken</c> as the next request's <c>PageToken</c>.</summary>
    public Task<ListJobsResponse> ListJobsPageAsync(ListJobsRequest request, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.ListAsync(request, o), cancellationToken);

    /// <summary>Cancels a job; FAILED_PRECONDITION for a job that already succeeded or failed, and a cancelled job comes back unchanged.</summary>
    public Task<Job> CancelJobAsync(string jobId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.CancelAsync(new CancelJobRequest { Id = jobId }, o), cancellationToken);

    /// <summary>
    /// The current state of one job (or of every unfinished job and the latest finished ones when
    /// <paramref name="jobId"/> is null), then every change; see <see cref="WatchJobEventsAsync"/>.
    /// </summary>
    public async IAsyncEnumerable<Job> WatchJobsAsync(string? jobId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var e in WatchJobEventsAsync(new WatchJobsRequest { JobId = jobId ?? string.Empty }, cancellationToken))
        {
            if (e.Job is not null)
            {
                yield return e.Job;
            }
        }
    }

    /// <summary>
    /// Watch events as the master sends them. When the stream breaks (a failover, a restarted master) the watch
    /// reconnects by itself and resumes after the last event received, so nothing is missed or replayed; where
    /// the master cannot resume, it starts over with CURRENT events.
    /// </summary>
    public async IAsyncEnumerable<JobEvent> WatchJobEventsAsync(WatchJobsRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        request = request.Clone();
        AsyncServerStreamingCall<JobEvent>? call = null;
        try
        {
            while (true)
            {
                var next = await _retry.ExecuteAsync(
                    async (endpoint, ct) =>
                    {
                        call ??= endpoint.Jobs.Watch(request, new CallOptions(headers: _headers, cancellationToken: ct));
                        try
                        {
                            return await call.ResponseStream.MoveNext(ct) ? call.ResponseStream.Current : null;
                        }
                        catch (RpcException ex)
                        {
                            call.Dispose();
                            call = null;

                            // A stream cut by the transport (the master's process ended) surfaces as INTERNAL: for a
                            // watch that resumes where it was, it is a reason to reconnect like UNAVAILABLE.
                            if (ex.StatusCode == StatusCode.Internal && ex.Status.DebugException is HttpProtocolException or IOException)
                            {
                                throw new RpcException(new Status(StatusCode.Unavailable, ex.Status.Detail, ex.Status.DebugException));
                            }

                            throw;
                        }
                    },
                    idempotent: true,
                    cancellationToken);
                if (next is null)
                {
                    yield break;
                }

                if (next.ResumeToken.Length > 0)
                {
                    // A reconnect (call recreated above) continues after this event.
                    request.ResumeToken = next.ResumeToken;
                }

                yield return next;
            }
        }
        finally
        {
            call?.Dispose();
        }
    }

    /// <summary>The tail of a job's captured stdout or stderr; <paramref name="tailBytes"/> 0 means the master's default.</summary>
    public Task<GetLogsResponse> GetLogsAsync(string jobId, LogStream stream, int tailBytes, CancellationToken cancellationToken) =>
        GetLogsAsync(jobId, stream, tailBytes, 0, cancellationToken);

    /// <summary>The tail of the output of one attempt of a job (1 for the first; 0 for the current or last).</summary>
    public Task<GetLogsResponse> GetLogsAsync(string jobId, LogStream stream, int tailBytes, int attempt, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.GetLogsAsync(new GetLogsRequest { JobId = jobId, Stream = stream, TailBytes = tailBytes, Attempt = attempt }, o), cancellationToken);

    /// <summary>Cluster summary: leader, node counts, capacity, allocation and jobs by state.</summary>
    public Task<ClusterStatus> GetClusterStatusAsync(CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.GetClusterStatusAsync(new GetClusterStatusRequest(), o), cancellationToken);

    /// <summary>Every node the master knows.</summary>
    public async Task<IReadOnlyList<Node>> ListNodesAsync(CancellationToken cancellationToken)
    {
        var response = await UnaryAsync((e, o) => e.Admin.ListNodesAsync(new ListNodesRequest(), o), cancellationToken);
        return response.Nodes;
    }

    /// <summary>One node with its GPUs and their telemetry; NOT_FOUND for an unknown node.</summary>
    public Task<Node> DescribeNodeAsync(string nodeId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = nodeId }, o), cancellationToken);

    /// <summary>Stops new placements on a node; running jobs continue.</summary>
    public Task<Node> CordonAsync(string nodeId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.CordonNodeAsync(new CordonNodeRequest { Id = nodeId }, o), cancellationToken);

    /// <summary>Moves a running checkpointable job live to <paramref name="targetNode"/> (null: the scheduler's choice).</summary>
    public Task<Job> MigrateJobAsync(string jobId, string? targetNode, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.MigrateJobAsync(new MigrateJobRequest { JobId = jobId, TargetNode = targetNode ?? "" }, o), cancellationToken);

    /// <summary>Why a job waits (per placement check, how many nodes failed it), or where it went, its score and the runner-up.</summary>
    public Task<JobExplanation> ExplainJobAsync(string jobId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.ExplainJobAsync(new ExplainJobRequest { JobId = jobId }, o), cancellationToken);

    /// <summary>Checkpoints a running checkpointable job, stops it and frees its capacity (SUSPENDED once the checkpoint is stored).</summary>
    public Task<Job> SuspendJobAsync(string jobId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.SuspendAsync(new SuspendJobRequest { Id = jobId }, o), cancellationToken);

    /// <summary>Queues a suspended job again; wherever it is placed it resumes from its checkpoint.</summary>
    public Task<Job> ResumeJobAsync(string jobId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Jobs.ResumeAsync(new ResumeJobRequest { Id = jobId }, o), cancellationToken);

    /// <summary>Allows placements on a cordoned node again.</summary>
    public Task<Node> UncordonAsync(string nodeId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.UncordonNodeAsync(new UncordonNodeRequest { Id = nodeId }, o), cancellationToken);

    /// <summary>Cordons a node and requeues every job running there.</summary>
    public Task<Node> DrainAsync(string nodeId, string? reason, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.DrainNodeAsync(new DrainNodeRequest { Id = nodeId, Reason = reason ?? string.Empty }, o), cancellationToken);

    /// <summary>Who leads, as seen by the master answering.</summary>
    public Task<LeaderInfo> GetLeaderAsync(CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.GetLeaderAsync(new GetLeaderRequest(), o), cancellationToken);

    /// <summary>Writes the leader's snapshot (every job and node record, JSON) to <paramref name="destination"/>; returns its size.</summary>
    public Task<long> SaveSnapshotAsync(Stream destination, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(
            async (endpoint, ct) =>
            {
                // A retry starts the document again.
                destination.SetLength(0);
                using var call = endpoint.Admin.SaveSnapshot(new SaveSnapshotRequest(), new CallOptions(headers: _headers, cancellationToken: ct));
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct))
                {
                    chunk.Data.WriteTo(destination);
                }

                return destination.Length;
            },
            idempotent: true,
            cancellationToken);

    /// <summary>Loads a snapshot document from <paramref name="source"/> into a fresh cluster.</summary>
    public Task<RestoreSnapshotResponse> RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(
            async (endpoint, ct) =>
            {
                source.Position = 0;
                using var call = endpoint.Admin.RestoreSnapshot(new CallOptions(headers: _headers, cancellationToken: ct));
                var buffer = new byte[1 << 20];
                int read;
                while ((read = await source.ReadAsync(buffer, ct)) > 0)
                {
                    await call.RequestStream.WriteAsync(new SnapshotChunk { Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, read) }, ct);
                }

                await call.RequestStream.CompleteAsync();
                return await call.ResponseAsync;
            },
            idempotent: false,
            cancellationToken);

    /// <summary>Creates a bearer token (admin only); the response holds its secret, shown this once.</summary>
    public Task<CreateTokenResponse> CreateTokenAsync(string name, string role, string? tenant, CancellationToken cancellationToken)
    {
        var request = new CreateTokenRequest { Name = name, Role = role, Tenant = tenant ?? "" };

        // Not retried after a timeout: a second attempt would make a second token.
        return _retry.ExecuteAsync(
            async (endpoint, ct) =>
            {
                using var pending = endpoint.Admin.CreateTokenAsync(request, new CallOptions(headers: _headers, deadline: _timeProvider.GetUtcNow().UtcDateTime + _options.Timeout, cancellationToken: ct));
                return await pending.ResponseAsync;
            },
            idempotent: false,
            cancellationToken);
    }

    /// <summary>Every token, revoked ones included, without secrets (admin only).</summary>
    public async Task<IReadOnlyList<AccessToken>> ListTokensAsync(CancellationToken cancellationToken) =>
        (await UnaryAsync((e, o) => e.Admin.ListTokensAsync(new ListTokensRequest(), o), cancellationToken)).Tokens;

    /// <summary>Revokes a token on every master at once (admin only); NOT_FOUND for an unknown id.</summary>
    public Task<AccessToken> RevokeTokenAsync(string tokenId, CancellationToken cancellationToken) =>
        UnaryAsync((e, o) => e.Admin.RevokeTokenAsync(new RevokeTokenRequest { Id = tokenId }, o), cancellationToken);

    /// <summary>Shuts down every channel this client opened.</summary>
    public ValueTask DisposeAsync() => _endpoints.DisposeAsync();

    /// <summary>Disposes every channel this client opened without waiting for calls in flight.</summary>
    public void Dispose() => _endpoints.Dispose();

    private Task<T> UnaryAsync<T>(Func<MasterEndpoint, CallOptions, AsyncUnaryCall<T>> call, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(
            async (endpoint, ct) =>
            {
                var deadline = _timeProvider.GetUtcNow().UtcDateTime + _options.Timeout;
                using var pending = call(endpoint, new CallOptions(headers: _headers, deadline: deadline, cancellationToken: ct));
                return await pending.ResponseAsync;
            },
            idempotent: true,
            cancellationToken);
}
