using Google.Protobuf;
using Grpc.Core;

namespace Scheduler.Hosting;

/// <summary>
/// Binds a service's methods so a request that is not a valid protobuf message of its type (random
/// bytes, a truncated frame, a field with the wrong wire type) is refused as INVALID_ARGUMENT naming
/// the message type. Without it the parser's exception leaves the server as UNKNOWN ("exception was
/// thrown by handler"), which tells a client nothing and reads as a server fault. Wraps the binder a
/// generated <c>BindService</c> is given; every call else is the generated one.
/// </summary>
internal sealed class MalformedRequestBinder : ServiceBinderBase
{
    private readonly ServiceBinderBase _inner;

    public MalformedRequestBinder(ServiceBinderBase inner)
    {
        _inner = inner;
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
        _inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
        _inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
        _inner.AddMethod(Refusing(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
        _inner.AddMethod(Refusing(method), handler);

    private static Method<TRequest, TResponse> Refusing<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        var parse = method.RequestMarshaller.ContextualDeserializer;
        var name = typeof(TRequest).Name;
        var request = Marshallers.Create(
            method.RequestMarshaller.ContextualSerializer,
            context =>
            {
                try
                {
                    return parse(context);
                }
                catch (InvalidProtocolBufferException ex)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"request: not a valid {name} message ({ex.Message})"));
                }
            });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, request, method.ResponseMarshaller);
    }
}
