using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Security;
using Scheduler.Master.Telemetry;
using Scheduler.Master.Validation;

namespace Scheduler.Master.Services;

/// <summary>The user-facing job API: validates at the edge, then hands work to the loop.</summary>
[BindServiceMethod(typeof(JobsService), nameof(BindService))]
internal sealed class JobsService : Jobs.JobsBase
{
    /// <summary>
    /// The generated binding, except that a malformed request is INVALID_ARGUMENT (see <see cref="Hosting.MalformedRequestBinder"/>).
    /// The parameter is the generated base type: ASP.NET Core looks the handlers up as overrides of its methods.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Jobs.JobsBase? service) =>
        Jobs.BindService(new Hosting.MalformedRequestBinder(binder), service);

    private const int DefaultPageSize = 200;

    /// <summary>The most jobs one SubmitBatch call creates.</summary>
    internal const int MaxBatchItems = 1000;
    private const int MaxPageSize = 1000;

    // A page of a filter that matches little stops after this many jobs, so no call scans the whole history.
    private const int MaxScannedPerPage = 50_000;
    private const int MaxTailBytes = 4 * 1024 * 1024;

    // A page also ends at this size, so large specs never push an answer past a client's receive limit (4 MiB by default in gRPC).
    private const int MaxPageBytes = 2 * 1024 * 1024;
    private readonly MasterRole _role;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly MasterMetrics _metrics;

    public JobsService(MasterRole role, IHostApplicationLifetime lifetime, MasterMetrics metrics)
    {
        _role = role;
        _lifetime = lifetime;
        _metrics = metrics;
    }

    /// <summary>The leader's loop; a standby refuses with FAILED_PRECONDITION and the leader's address.</summary>
    private SchedulerLoop Loop => _role.RequireLeader();

    public override async Task<SubmitJobResponse> Submit(SubmitJobRequest request, ServerCallContext context)
    {
        // The job's trace begins here, or continues a caller's W3C traceparent header.
        var began = System.Diagnostics.Stopwatch.GetTimestamp();
        using var activity = MasterTracing.StartSubmit(context.RequestHeaders.GetValue("traceparent"));
        try
        {
            JobSpecValidator.Validate(request);
            var scope = TenantScope.Of(context);
            scope.Bind(request.Spec);
            request.Spec = JobSpecDefaults.Apply(request.Spec);
            var trace = activity?.Context ?? default;
            SubmitJobResponse response;
            try
            {
                response = await (await _role.RequireLeaderAsync(context.CancellationToken))
                    .AskAsync<SubmitJobResponse>(tcs => new SubmitJob(request, tcs) { Trace = trace }, context.CancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.AlreadyExists && !scope.IsUnrestricted)
            {
                // The loop's answer names the job holding the request id, which may be another tenant's.
                throw RequestIdTaken();
            }

            if (!scope.Sees(response.Job))
            {
                // The request id names another tenant's job: say it is taken, not whose or which.
                throw RequestIdTaken();
            }

            activity?.SetTag(MasterTracing.JobId, response.Job.Id);
            activity?.SetTag("scheduler.job.created", response.Created);
            return response;
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            _metrics.SubmitAnswered(System.Diagnostics.Stopwatch.GetElapsedTime(began), "submit");
        }
    }

    public override async Task<SubmitJobBatchResponse> SubmitBatch(SubmitJobBatchRequest request, ServerCallContext context)
    {
        var began = System.Diagnostics.Stopwatch.GetTimestamp();
        using var activity = MasterTracing.StartSubmit(context.RequestHeaders.GetValue("traceparent"));
        try
        {
            var scope = TenantScope.Of(context);
            ValidateBatch(request, scope);
            SubmitJobBatchResponse response;
            try
            {
                response = await (await _role.RequireLeaderAsync(context.CancellationToken))
                    .AskAsync<SubmitJobBatchResponse>(tcs => new SubmitJobBatch(request, tcs) { Trace = activity?.Context ?? default }, context.CancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.AlreadyExists && !scope.IsUnrestricted)
            {
                // The loop's answer is about a stored job, which may be another tenant's.
                throw RequestIdTaken();
            }

            if (!response.Items.All(item => scope.Sees(item.Job)))
            {
                throw RequestIdTaken();
            }

            activity?.SetTag("scheduler.batch.items", response.Items.Count);
            return response;
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            _metrics.SubmitAnswered(System.Diagnostics.Stopwatch.GetElapsedTime(began), "batch");
        }
    }

    /// <summary>Every item as Submit checks it, each error naming its item ("items[3].spec.gpus ..."); then bound to the caller's tenant, defaults filled in.</summary>
    private static void ValidateBatch(SubmitJobBatchRequest request, TenantScope scope)
    {
        if (request.Items.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "items must hold at least one job"));
        }

        if (request.Items.Count > MaxBatchItems)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"items must hold at most {MaxBatchItems} jobs (got {request.Items.Count}); split the batch"));
        }

        for (var i = 0; i < request.Items.Count; i++)
        {
            var item = request.Items[i];
            try
            {
                JobSpecValidator.Validate(item);
                scope.Bind(item.Spec);
            }
            catch (RpcException ex)
            {
                throw new RpcException(new Status(ex.StatusCode, $"items[{i}].{ex.Status.Detail}"));
            }

            item.Spec = JobSpecDefaults.Apply(item.Spec);
        }
    }

    public override Task<Job> Get(GetJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");

        // The feed, not the per-batch view: a job is found as soon as Submit has answered.
        return Loop.Feed.Current.History.TryGet(request.Id, out var job) && TenantScope.Of(context).Sees(job)
            ? Task.FromResult(ProtoMapping.ToProto(job))
            : throw new RpcException(new Status(StatusCode.NotFound, $"job '{request.Id}' not found"));
    }

    public override Task<ListJobsResponse> List(ListJobsRequest request, ServerCallContext context)
    {
        if (request.Limit < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit must not be negative (got {request.Limit})"));
        }

        if (request.PageSize < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"page_size must not be negative (got {request.PageSize})"));
        }

        var size = Math.Min(request.PageSize > 0 ? request.PageSize : request.Limit > 0 ? request.Limit : DefaultPageSize, MaxPageSize);
        var states = request.States.Distinct().Order().ToArray();
        var filter = string.Join(',', states.Select(s => (int)s));
        var before = request.PageToken.Length == 0 ? long.MaxValue : PageToken.Parse(request.PageToken, filter);
        var unfinishedOnly = states.Length > 0 && states.All(JobHistory.IsUnfinished);

        var response = new ListJobsResponse();
        var scanned = 0;
        var scope = TenantScope.Of(context);
        var pageBytes = 0;
        foreach (var job in Loop.Feed.Current.History.NewestFirst(before, unfinishedOnly))
        {
            if ((states.Length > 0 && !states.Contains(job.State)) || !scope.Sees(job))
            {
                if (++scanned < MaxScannedPerPage)
                {
                    continue;
                }

                response.NextPageToken = PageToken.Encode(filter, job.Sequence);
                break;
            }

            if (response.Jobs.Count == size)
            {
                // One more match exists: the next page starts below the last one returned.
                response.NextPageToken = PageToken.Encode(filter, before);
                break;
            }

            var listed = ProtoMapping.ToProto(job);
            pageBytes += listed.CalculateSize();
            if (response.Jobs.Count > 0 && pageBytes > MaxPageBytes)
            {
                response.NextPageToken = PageToken.Encode(filter, before);
                break;
            }

            response.Jobs.Add(listed);
            before = job.Sequence;
            scanned++;
        }

        return Task.FromResult(response);
    }

    public override Task<Job> Cancel(CancelJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");
        RequireVisible(request.Id, context);
        return Loop.AskAsync<Job>(tcs => new CancelJob(request.Id, tcs), context.CancellationToken);
    }

    public override async Task<Job> Suspend(SuspendJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        RequireVisible(loop, request.Id, context);
        return await loop.AskAsync<Job>(tcs => new SuspendJob(request.Id, tcs), context.CancellationToken);
    }

    public override async Task<Job> Resume(ResumeJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        RequireVisible(loop, request.Id, context);
        return await loop.AskAsync<Job>(tcs => new ResumeJob(request.Id, tcs), context.CancellationToken);
    }

    public override async Task Watch(WatchJobsRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        if (request.JobId.Length > 0)
        {
            RequireId(request.JobId, "job_id");
        }

        ResumeToken? resume = request.ResumeToken.Length == 0 ? null : ResumeToken.Parse(request.ResumeToken);
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        var watcher = new JobWatcher(request.JobId);
        var scope = TenantScope.Of(context);
        if (watcher.JobId is { } id && !(loop.Feed.Current.History.TryGet(id, out var watched) && scope.Sees(watched)))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"job '{id}' not found"));
        }

        if (resume is { } token && token.Epoch == loop.Feed.Current.Epoch && token.Version > loop.Feed.Current.Version)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "resume_token is ahead of this master's changes"));
        }

        loop.Post(new WatchSubscribe(watcher));

        // Ended as the master starts to stop, not after: the server waits for open calls before it stops.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _lifetime.ApplicationStopping, loop.TermEnded);
        try
        {
            await new WatchStream(loop.Feed, watcher, responseStream, scope).RunAsync(resume, request.ChangesOnly, stopping.Token);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The client went away: how every watch ends, not an error worth a log line.
        }
        catch (OperationCanceledException) when (_lifetime.ApplicationStopping.IsCancellationRequested || loop.TermEnded.IsCancellationRequested)
        {
            throw _role.NotLeader(StatusCode.Unavailable, "this master stopped leading or is shutting down; watch again (with the last resume_token)");
        }
        finally
        {
            loop.Post(new WatchUnsubscribe(watcher));
        }
    }

    public override Task<GetLogsResponse> GetLogs(GetLogsRequest request, ServerCallContext context)
    {
        RequireId(request.JobId, "job_id");
        if (request.TailBytes < 0 || request.TailBytes > MaxTailBytes)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"tail_bytes must be between 0 and {MaxTailBytes} (got {request.TailBytes})"));
        }

        if (request.Attempt < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"attempt must not be negative (got {request.Attempt})"));
        }

        RequireVisible(request.JobId, context);
        return Loop.AskAsync<GetLogsResponse>(tcs => new FetchJobLogs(request, tcs), context.CancellationToken);
    }

    /// <summary>NOT_FOUND for a job the caller's tenant may not see; the loop answers NOT_FOUND for unknown ones itself.</summary>
    private void RequireVisible(string id, ServerCallContext context) => RequireVisible(Loop, id, context);

    internal static void RequireVisible(SchedulerLoop loop, string id, ServerCallContext context)
    {
        var scope = TenantScope.Of(context);
        if (!scope.IsUnrestricted && !(loop.Feed.Current.History.TryGet(id, out var job) && scope.Sees(job)))
        {
            throw TenantScope.NotFound(id);
        }
    }

    private static RpcException RequestIdTaken() =>
        new(new Status(StatusCode.AlreadyExists, "request_id: already used by another submission; choose a new one"));

    internal static void RequireId(string value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field} is required"));
        }

        if (value.Length > 256)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field} must be at most 256 characters"));
        }
    }
}
