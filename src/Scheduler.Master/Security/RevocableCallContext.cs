using Grpc.Core;

namespace Scheduler.Master.Security;

/// <summary>
/// The call's context as the service sees it, whose cancellation token also fires when the call's
/// token is revoked: every stream loop already ends on its context's token, so a revoked token's
/// streams end the way a client's hang-up ends them. Everything else is the real context's.
/// </summary>
internal sealed class RevocableCallContext : ServerCallContext
{
    private readonly ServerCallContext _inner;
    private readonly CancellationToken _cancellation;

    public RevocableCallContext(ServerCallContext inner, CancellationToken cancellation)
    {
        _inner = inner;
        _cancellation = cancellation;
    }

    protected override string MethodCore => _inner.Method;

    protected override string HostCore => _inner.Host;

    protected override string PeerCore => _inner.Peer;

    protected override DateTime DeadlineCore => _inner.Deadline;

    protected override Metadata RequestHeadersCore => _inner.RequestHeaders;

    protected override CancellationToken CancellationTokenCore => _cancellation;

    protected override Metadata ResponseTrailersCore => _inner.ResponseTrailers;

    protected override Status StatusCore
    {
        get => _inner.Status;
        set => _inner.Status = value;
    }

    protected override WriteOptions? WriteOptionsCore
    {
        get => _inner.WriteOptions;
        set => _inner.WriteOptions = value;
    }

    protected override AuthContext AuthContextCore => _inner.AuthContext;

    protected override IDictionary<object, object> UserStateCore => _inner.UserState;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => _inner.CreatePropagationToken(options);

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => _inner.WriteResponseHeadersAsync(responseHeaders);
}
