using Grpc.Core;
using Grpc.Core.Interceptors;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Tests;

/// <summary>
/// A client interceptor that meddles with the first Push stream only: it can corrupt one chunk's
/// data, or break the stream (cancel the call and fail the write) after a number of chunks, as a
/// dropped connection would. Later streams pass untouched, so a retry can succeed.
/// </summary>
internal sealed class ChunkTamperer : Interceptor
{
    private int _calls;

    /// <summary>Index (in the first stream) of the chunk whose data gets a flipped byte; -1 for none.</summary>
    public int CorruptAt { get; init; } = -1;

    /// <summary>The first stream breaks when asked to write this many chunks; -1 never.</summary>
    public int BreakAfter { get; init; } = -1;

    /// <summary>Waited for before the break, so the target has stored what was written (no timing guess).</summary>
    public Func<Task>? BeforeBreak { get; init; }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        if (Interlocked.Increment(ref _calls) != 1)
        {
            return continuation(context);
        }

        var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.Options.CancellationToken);
        var call = continuation(new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithCancellationToken(cancel.Token)));
        var writer = new Writer<TRequest>(call.RequestStream, this, cancel);
        return new AsyncClientStreamingCall<TRequest, TResponse>(writer, call.ResponseAsync, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, () =>
        {
            call.Dispose();
            cancel.Dispose();
        });
    }

    private sealed class Writer<T>(IClientStreamWriter<T> inner, ChunkTamperer owner, CancellationTokenSource cancel) : IClientStreamWriter<T>
    {
        private int _written;

        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task CompleteAsync() => inner.CompleteAsync();

        public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            var index = _written++;
            if (index == owner.BreakAfter)
            {
                if (owner.BeforeBreak is { } wait)
                {
                    await wait();
                }

                await cancel.CancelAsync();
                throw new RpcException(new Status(StatusCode.Unavailable, "connection broken by the test"));
            }

            if (index == owner.CorruptAt && message is ChunkMessage chunk)
            {
                var data = chunk.Data.ToByteArray();
                data[0] ^= 0xFF;
                message = (T)(object)new ChunkMessage(chunk) { Data = Google.Protobuf.ByteString.CopyFrom(data) };
            }

            await inner.WriteAsync(message, cancellationToken);
        }
    }
}
