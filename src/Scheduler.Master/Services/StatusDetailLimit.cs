using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Scheduler.Master.Services;

/// <summary>
/// Keeps every error's message short: a message that quotes what the caller sent (an id, a token, a
/// parser's complaint) travels in an HTTP/2 trailer, and one past a client's header limit (64 KiB in
/// .NET) would tear down the client's whole connection instead of failing one call.
/// </summary>
internal sealed class StatusDetailLimit : Interceptor
{
    public const int MaxDetailLength = 1024;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException ex) when (ex.Status.Detail.Length > MaxDetailLength)
        {
            throw Shortened(ex);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (RpcException ex) when (ex.Status.Detail.Length > MaxDetailLength)
        {
            throw Shortened(ex);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (RpcException ex) when (ex.Status.Detail.Length > MaxDetailLength)
        {
            throw Shortened(ex);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (RpcException ex) when (ex.Status.Detail.Length > MaxDetailLength)
        {
            throw Shortened(ex);
        }
    }

    private static RpcException Shortened(RpcException ex) =>
        new(new Status(ex.StatusCode, ex.Status.Detail[..MaxDetailLength] + "..."), ex.Trailers);
}
