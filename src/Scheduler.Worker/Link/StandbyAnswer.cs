using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Link;

/// <summary>
/// A master that is not (or no longer) the leader answers FAILED_PRECONDITION, or UNAVAILABLE as its
/// term ends, and names the leader in a trailer. <see cref="Leader"/> is null while no leader is known.
/// </summary>
internal sealed record StandbyAnswer(Uri? Leader)
{
    /// <summary>Same key as <c>Scheduler.Client.SchedulerMetadata.LeaderTrailer</c>. The worker does not reference the client library.</summary>
    public const string LeaderTrailer = "x-scheduler-leader";

    /// <summary>The standby's answer carried by <paramref name="status"/> and <paramref name="trailers"/>, or null when it is none.</summary>
    public static StandbyAnswer? From(StatusCode status, Metadata? trailers)
    {
        if (status is not (StatusCode.FailedPrecondition or StatusCode.Unavailable) || trailers?.Get(LeaderTrailer) is not { IsBinary: false } entry)
        {
            return null;
        }

        return Uri.TryCreate(entry.Value, UriKind.Absolute, out var leader) && (leader.Scheme == Uri.UriSchemeHttp || leader.Scheme == Uri.UriSchemeHttps)
            ? new StandbyAnswer(leader)
            : new StandbyAnswer(Leader: null);
    }

    /// <summary>
    /// Reads the answer from a call whose registration failed. A write can fail (the stream was reset)
    /// before the master's status and trailers have been read; then the response is awaited for at
    /// most <paramref name="wait"/>, or a standby's hint would be taken for a plain failure and the
    /// reconnect pacing that depends on it would be lost.
    /// </summary>
    public static async Task<StandbyAnswer?> FromAsync(Exception error, AsyncDuplexStreamingCall<WorkerMessage, MasterCommand> call, TimeSpan wait, TimeProvider time, CancellationToken ct)
    {
        var answer = From(error, call);
        if (answer is not null || wait <= TimeSpan.Zero)
        {
            return answer;
        }

        using var bounded = new CancellationTokenSource(wait, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, bounded.Token);
        try
        {
            // The response stream ends with the call's status: an RpcException carrying the trailers.
            while (await call.ResponseStream.MoveNext(linked.Token))
            {
            }
        }
        catch (RpcException rpc)
        {
            return From(rpc.StatusCode, rpc.Trailers);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            // Nothing more to learn within the wait.
        }

        return From(error, call);
    }

    /// <summary>
    /// Reads the answer from a failed call. The status usually comes with the exception. A write that
    /// failed because the call had already ended does not carry it, so the call itself is asked then.
    /// </summary>
    public static StandbyAnswer? From(Exception error, AsyncDuplexStreamingCall<WorkerMessage, MasterCommand> call)
    {
        if (error is RpcException rpc && From(rpc.StatusCode, rpc.Trailers) is { } answer)
        {
            return answer;
        }

        try
        {
            return From(call.GetStatus().StatusCode, call.GetTrailers());
        }
        catch (InvalidOperationException)
        {
            // The call has not finished, so there is no status to read.
            return null;
        }
    }
}
