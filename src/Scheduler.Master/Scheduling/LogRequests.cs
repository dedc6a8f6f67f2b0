using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Log fetches waiting for a worker's answer: each is answered by the worker's reply, by its
/// deadline passing, or by the master stopping — never left hanging. Owned by the scheduling loop.
/// </summary>
internal sealed class LogRequests
{
    private readonly Dictionary<string, Waiting> _waiting = new(StringComparer.Ordinal);

    /// <summary>Registers a fetch sent to <paramref name="nodeId"/> and returns the id the worker answers with.</summary>
    public string Add(string nodeId, int attempt, TaskCompletionSource<GetLogsResponse> reply, DateTimeOffset expires)
    {
        var requestId = Guid.NewGuid().ToString("N");
        _waiting[requestId] = new Waiting(nodeId, attempt, reply, expires);
        return requestId;
    }

    /// <summary>Answers the fetch the worker's reply belongs to; a reply nobody waits for any more is dropped.</summary>
    public void Complete(LogsReply logs)
    {
        if (!_waiting.Remove(logs.RequestId, out var waiting))
        {
            return;
        }

        if (logs.Found)
        {
            waiting.Reply.TrySetResult(new GetLogsResponse
            {
                Data = logs.Data,
                Truncated = logs.Truncated,
                NodeId = waiting.NodeId,
                Attempt = waiting.Attempt,
            });
        }
        else
        {
            waiting.Reply.TrySetException(new RpcException(new Status(
                StatusCode.NotFound, $"worker {waiting.NodeId} has no output for that job attempt")));
        }
    }

    /// <summary>Fails every fetch whose deadline is at or before <paramref name="now"/>.</summary>
    public void Expire(DateTimeOffset now)
    {
        foreach (var (id, waiting) in _waiting.Where(w => now >= w.Value.Expires).ToArray())
        {
            _waiting.Remove(id);
            waiting.Reply.TrySetException(new RpcException(new Status(
                StatusCode.DeadlineExceeded, $"worker {waiting.NodeId} did not send the logs in time")));
        }
    }

    /// <summary>The master is stopping: nobody will answer.</summary>
    public void FailAll()
    {
        foreach (var waiting in _waiting.Values)
        {
            waiting.Reply.TrySetException(new RpcException(new Status(StatusCode.Unavailable, "the master is shutting down")));
        }

        _waiting.Clear();
    }

    private sealed record Waiting(string NodeId, int Attempt, TaskCompletionSource<GetLogsResponse> Reply, DateTimeOffset Expires);
}
