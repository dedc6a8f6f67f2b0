using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Validation;

namespace Scheduler.Master.Services;

/// <summary>The user-facing job API: validates at the edge, then hands work to the loop.</summary>
internal sealed class JobsService : Jobs.JobsBase
{
    private const int DefaultListLimit = 1000;
    private const int MaxTailBytes = 4 * 1024 * 1024;
    private readonly SchedulerLoop _loop;

    public JobsService(SchedulerLoop loop) => _loop = loop;

    public override async Task<SubmitJobResponse> Submit(SubmitJobRequest request, ServerCallContext context)
    {
        JobSpecValidator.Validate(request);
        return await _loop.AskAsync<SubmitJobResponse>(tcs => new SubmitJob(request, tcs), context.CancellationToken);
    }

    public override Task<Job> Get(GetJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");
        return _loop.View.Jobs.TryGetValue(request.Id, out var job)
            ? Task.FromResult(ProtoMapping.ToProto(job))
            : throw new RpcException(new Status(StatusCode.NotFound, $"job '{request.Id}' not found"));
    }

    public override Task<ListJobsResponse> List(ListJobsRequest request, ServerCallContext context)
    {
        if (request.Limit < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit must not be negative (got {request.Limit})"));
        }

        var limit = request.Limit == 0 ? DefaultListLimit : request.Limit;
        var states = request.States.ToHashSet();
        var response = new ListJobsResponse();
        response.Jobs.Add(_loop.View.Jobs.Values
            .Where(j => states.Count == 0 || states.Contains(j.State))
            .OrderByDescending(j => j.Sequence)
            .Take(limit)
            .Select(ProtoMapping.ToProto));
        return Task.FromResult(response);
    }

    public override Task<Job> Cancel(CancelJobRequest request, ServerCallContext context)
    {
        RequireId(request.Id, "id");
        return _loop.AskAsync<Job>(tcs => new CancelJob(request.Id, tcs), context.CancellationToken);
    }

    public override async Task Watch(WatchJobsRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var watcher = new JobWatcher(request.JobId);
        if (watcher.JobId is { } id && !_loop.View.Jobs.ContainsKey(id))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"job '{id}' not found"));
        }

        await _loop.Ready.WaitAsync(context.CancellationToken);
        _loop.Post(new WatchSubscribe(watcher));
        try
        {
            await foreach (var job in watcher.Events.ReadAllAsync(context.CancellationToken))
            {
                await responseStream.WriteAsync(new JobEvent { Job = job }, context.CancellationToken);
            }
        }
        catch (InvalidOperationException ex)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ex.Message));
        }
        finally
        {
            _loop.Post(new WatchUnsubscribe(watcher));
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

        return _loop.AskAsync<GetLogsResponse>(tcs => new FetchJobLogs(request, tcs), context.CancellationToken);
    }

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
