using Google.Protobuf.Reflection;
using Grpc.Core;

namespace Scheduler.Tests.Common.Fuzz;

/// <summary>
/// Calls any RPC with request bytes as they are: the generated clients would only send what their
/// classes can hold, and a fuzzer wants to send what they cannot.
/// </summary>
public static class RawCalls
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    public static Method<byte[], byte[]> For(MethodDescriptor method) => new(
        (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        },
        method.Service.FullName,
        method.Name,
        Bytes,
        Bytes);

    /// <summary>How many times a call whose connection the server closed is sent again before its loss counts as its answer.</summary>
    public const int ConnectionLossRetries = 3;

    /// <summary>
    /// Sends <paramref name="payloads"/> (one for a unary or server-streaming call) and returns the
    /// status the server answered with. A stream that answers is read to its first message and then
    /// let go: that first message is an OK answer, and a watch would otherwise never end.
    /// </summary>
    /// <remarks>
    /// Concurrent calls share one HTTP/2 connection. Kestrel answers a frame that arrives for a stream it has
    /// already finished and stopped draining (a hostile request it refused while the client was still sending
    /// its body, drained for a few seconds only, which a loaded machine can outlast) by closing the whole
    /// connection with GOAWAY STREAM_CLOSED: every other call in flight on it then fails in the client library
    /// with INTERNAL, although the server never answered them. Such a call got no answer, so it is sent again
    /// (up to <see cref="ConnectionLossRetries"/> times, each loss reported to <paramref name="connectionLost"/>);
    /// an INTERNAL the server itself answers carries no transport exception and is returned as it is.
    /// </remarks>
    public static async Task<Status> CallAsync(
        CallInvoker invoker, Method<byte[], byte[]> method, IReadOnlyList<byte[]> payloads, TimeSpan timeout, Action<Status>? connectionLost = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var status = await CallOnceAsync(invoker, method, payloads, timeout);
            if (attempt == ConnectionLossRetries || !IsConnectionLoss(status))
            {
                return status;
            }

            connectionLost?.Invoke(status);
        }
    }

    /// <summary>
    /// Whether the call failed because its HTTP/2 connection was closed under it (a client-side transport
    /// exception), rather than with a status the server sent.
    /// </summary>
    public static bool IsConnectionLoss(Status status)
    {
        if (status.StatusCode != StatusCode.Internal)
        {
            return false;
        }

        for (var ex = status.DebugException; ex is not null; ex = ex.InnerException)
        {
            if (ex is HttpProtocolException)
            {
                return true;
            }
        }

        return false;
    }

    private static async Task<Status> CallOnceAsync(CallInvoker invoker, Method<byte[], byte[]> method, IReadOnlyList<byte[]> payloads, TimeSpan timeout)
    {
        var options = new CallOptions(deadline: DateTime.UtcNow + timeout);
        try
        {
            switch (method.Type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(method, null, options, payloads[0]);
                    return Status.DefaultSuccess;
                case MethodType.ServerStreaming:
                {
                    using var call = invoker.AsyncServerStreamingCall(method, null, options, payloads[0]);
                    await call.ResponseStream.MoveNext(CancellationToken.None);
                    return Status.DefaultSuccess;
                }

                default:
                {
                    using var call = method.Type == MethodType.ClientStreaming
                        ? Wrap(invoker.AsyncClientStreamingCall(method, null, options))
                        : Wrap(invoker.AsyncDuplexStreamingCall(method, null, options));
                    try
                    {
                        foreach (var payload in payloads)
                        {
                            await call.Writer.WriteAsync(payload);
                        }

                        await call.Writer.CompleteAsync();
                    }
                    catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
                    {
                        // The server answered (or reset the stream) before it had read everything: its answer is what counts.
                    }

                    await call.Response;
                    return Status.DefaultSuccess;
                }
            }
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
        catch (IOException ex)
        {
            // The server reset the HTTP/2 stream without a gRPC status (e.g. a worker stream replaced by a
            // newer registration of its node): the client library reads that as a cancelled call.
            return new Status(StatusCode.Cancelled, $"stream reset: {ex.Message}");
        }
    }

    private static StreamCall Wrap(AsyncClientStreamingCall<byte[], byte[]> call) => new(call.RequestStream, call.ResponseAsync, call);

    // A duplex stream is read to its end: its status comes after the last message.
    private static StreamCall Wrap(AsyncDuplexStreamingCall<byte[], byte[]> call) =>
        new(call.RequestStream, DrainAsync(call.ResponseStream), call);

    private static async Task DrainAsync(IAsyncStreamReader<byte[]> responses)
    {
        while (await responses.MoveNext(CancellationToken.None))
        {
        }
    }

    private sealed record StreamCall(IClientStreamWriter<byte[]> Writer, Task Response, IDisposable Call) : IDisposable
    {
        public void Dispose() => Call.Dispose();
    }
}
