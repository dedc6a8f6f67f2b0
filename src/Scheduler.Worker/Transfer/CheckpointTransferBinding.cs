using Google.Protobuf;
using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The target's binding of the <c>CheckpointTransfer</c> service: the generated one's methods and wire
/// format, except that Push reads each chunk as a <see cref="ReceivedChunk"/> (into a pooled aligned
/// buffer) rather than as a <c>ChunkMessage</c>. Clients, generated or not, see no difference.
/// </summary>
[BindServiceMethod(typeof(CheckpointTransferBinding), nameof(BindService))]
internal abstract class CheckpointTransferBinding
{
    private static readonly string ServiceName = CheckpointTransfer.Descriptor.FullName;

    private static readonly Method<PrepareRequest, PrepareResponse> PrepareMethod =
        new(MethodType.Unary, ServiceName, "Prepare", Protobuf(PrepareRequest.Parser), Protobuf(PrepareResponse.Parser));

    private static readonly Method<ReceivedChunk, PushResponse> PushMethod =
        new(MethodType.ClientStreaming, ServiceName, "Push", Marshallers.Create<ReceivedChunk>(
            (_, _) => throw new NotSupportedException("the target only reads chunks"),
            context => ReceivedChunk.Parse(context, ChunkBufferPool.Shared)), Protobuf(PushResponse.Parser));

    private static readonly Method<CommitRequest, CommitResponse> CommitMethod =
        new(MethodType.Unary, ServiceName, "Commit", Protobuf(CommitRequest.Parser), Protobuf(CommitResponse.Parser));

    public abstract Task<PrepareResponse> Prepare(PrepareRequest request, ServerCallContext context);

    /// <summary>Every chunk read from <paramref name="requestStream"/> must be disposed (it holds a pooled buffer).</summary>
    public abstract Task<PushResponse> Push(IAsyncStreamReader<ReceivedChunk> requestStream, ServerCallContext context);

    public abstract Task<CommitResponse> Commit(CommitRequest request, ServerCallContext context);

    public static void BindService(ServiceBinderBase binder, CheckpointTransferBinding? service)
    {
        // ASP.NET Core passes no instance: it finds the overrides by name and creates a service per call.
        // A request that does not parse is INVALID_ARGUMENT, not the parser's exception (UNKNOWN).
        binder = new Hosting.MalformedRequestBinder(binder);
        binder.AddMethod(PrepareMethod, service is null ? null! : new UnaryServerMethod<PrepareRequest, PrepareResponse>(service.Prepare));
        binder.AddMethod(PushMethod, service is null ? null! : new ClientStreamingServerMethod<ReceivedChunk, PushResponse>(service.Push));
        binder.AddMethod(CommitMethod, service is null ? null! : new UnaryServerMethod<CommitRequest, CommitResponse>(service.Commit));
    }

    private static Marshaller<T> Protobuf<T>(MessageParser<T> parser)
        where T : class, IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}
