using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// Every call passes here before its service: the <see cref="RoleTable"/> rule for the method, the
/// caller's identity (UNAUTHENTICATED without a valid one), its role (PERMISSION_DENIED), its request
/// rate (RESOURCE_EXHAUSTED with a retry hint) and, for streams, its open streams. Refusals go to the
/// <see cref="AuditLog"/>. With auth off only the rule lookup remains: nothing is refused.
/// </summary>
internal sealed class AuthInterceptor : Interceptor
{
    /// <summary>Trailer with the milliseconds to wait before retrying a rate-limited call (gRPC's retry pushback).</summary>
    public const string RetryPushbackTrailer = "grpc-retry-pushback-ms";

    private readonly SecurityOptions _options;
    private readonly Authenticator _authenticator;
    private readonly RequestRateLimiter _limiter;
    private readonly StreamCounter _streams;
    private readonly AuditLog _audit;
    private readonly OpenStreams _open;

    public AuthInterceptor(IOptions<SecurityOptions> options, Authenticator authenticator, RequestRateLimiter limiter, StreamCounter streams, AuditLog audit, OpenStreams open)
    {
        _options = options.Value;
        _authenticator = authenticator;
        _limiter = limiter;
        _streams = streams;
        _audit = audit;
        _open = open;
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await AdmitAsync(context, request);
        return await continuation(request, context);
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var identity = await AdmitAsync(context, null);
        using var stream = OpenStream(identity, context);
        return await RevocableAsync(identity, context, c => continuation(requestStream, c));
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var identity = await AdmitAsync(context, request);
        using var stream = OpenStream(identity, context);
        await RevocableAsync(identity, context, async c =>
        {
            await continuation(request, responseStream, c);
            return true;
        });
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        // The worker's one long stream: authenticated when it opens (and ended if its token is revoked), not counted as a user's stream.
        var identity = await AdmitAsync(context, null);
        await RevocableAsync(identity, context, async c =>
        {
            await continuation(requestStream, responseStream, c);
            return true;
        });
    }

    /// <summary>
    /// Runs a stream opened with a token so that revoking the token ends it at once: the service's
    /// context is cancelled as by a hang-up, and the call ends UNAUTHENTICATED. Certificates have no
    /// revocation (a new CA retires them), and with auth off there is nothing to revoke.
    /// </summary>
    private async Task<T> RevocableAsync<T>(CallerIdentity? identity, ServerCallContext context, Func<ServerCallContext, Task<T>> run)
    {
        if (identity is null || identity.IsCertificate)
        {
            return await run(context);
        }

        KeepHttpContext(context);
        using var registration = _open.Open(identity.Id);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, registration.Revoked);
        T result;
        try
        {
            result = await run(new RevocableCallContext(context, linked.Token));
        }
        catch (Exception ex) when (registration.Revoked.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && ex is not RpcException { StatusCode: StatusCode.Unauthenticated })
        {
            throw Refuse(StatusCode.Unauthenticated, identity.Who, context, null, $"token {identity.Id} was revoked: this stream is closed");
        }

        if (registration.Revoked.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw Refuse(StatusCode.Unauthenticated, identity.Who, context, null, $"token {identity.Id} was revoked: this stream is closed");
        }

        return result;
    }

    /// <summary>Lets <c>GetHttpContext()</c> find the HTTP context through the wrapping context (grpc-dotnet looks in UserState).</summary>
    private static void KeepHttpContext(ServerCallContext context)
    {
        try
        {
            context.UserState["__HttpContext"] = context.GetHttpContext();
        }
        catch (InvalidOperationException)
        {
            // Not hosted by ASP.NET Core (unit tests): nothing to keep.
        }
    }

    /// <summary>The caller, once it may make this call; throws the refusal otherwise.</summary>
    private async Task<CallerIdentity?> AdmitAsync(ServerCallContext context, object? request)
    {
        var rule = RoleTable.For(context.Method);
        if (!_options.Enabled || rule is { Public: true })
        {
            return null;
        }

        CallerIdentity? identity;
        string refusal;
        try
        {
            (identity, refusal) = await _authenticator.AuthenticateAsync(context);
        }
        catch (Exception ex) when (ex is StoreException or StoreUnavailableException or Microsoft.Data.Sqlite.SqliteException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"the token store cannot be read now ({ex.Message}); retry"));
        }

        if (identity is null)
        {
            throw Refuse(StatusCode.Unauthenticated, "anonymous", context, request, refusal);
        }

        if (rule is null)
        {
            throw Refuse(StatusCode.PermissionDenied, identity.Who, context, request, $"{context.Method} has no entry in the role table: nobody may call it");
        }

        if (!rule.Allows(identity.Role))
        {
            var allowed = rule.Roles.Count == 0 ? "no role: this master does not serve it" : string.Join(", ", rule.Roles.Order().Select(RoleNames.Of));
            throw Refuse(StatusCode.PermissionDenied, identity.Who, context, request, $"role {RoleNames.Of(identity.Role)} may not call {context.Method} (allowed: {allowed})");
        }

        if (_limiter.TryAcquire(identity.Id) is { } wait)
        {
            var ms = Math.Max(1, (long)Math.Ceiling(wait.TotalMilliseconds));
            var error = Refuse(StatusCode.ResourceExhausted, identity.Who, context, request,
                $"rate limit: {_options.RateLimitPerSecond.ToString(CultureInfo.InvariantCulture)} requests per second per token (burst {_options.RateLimitBurst}); retry after {ms} ms");
            error.Trailers.Add(RetryPushbackTrailer, ms.ToString(CultureInfo.InvariantCulture));
            throw error;
        }

        identity.AttachTo(context);
        return identity;
    }

    private StreamLease? OpenStream(CallerIdentity? identity, ServerCallContext context)
    {
        if (identity is null)
        {
            return null;
        }

        if (!_streams.TryOpen(identity.Id))
        {
            throw Refuse(StatusCode.ResourceExhausted, identity.Who, context, null,
                $"{identity.Who} already holds {_options.MaxStreamsPerIdentity} open streams (the most one identity may); close one first");
        }

        return new StreamLease(_streams, identity.Id);
    }

    private RpcException Refuse(StatusCode code, string who, ServerCallContext context, object? request, string detail)
    {
        _audit.Write(who, context.Method, JobIdOf(request), code.ToString(), detail);
        return new RpcException(new Status(code, detail), new Metadata());
    }

    /// <summary>The job (or node) a request names, for the audit line: its <c>job_id</c> or <c>id</c> field.</summary>
    private static string? JobIdOf(object? request)
    {
        if (request is not IMessage message)
        {
            return null;
        }

        var field = message.Descriptor.FindFieldByName("job_id") ?? message.Descriptor.FindFieldByName("id");
        return field?.FieldType == Google.Protobuf.Reflection.FieldType.String && field.Accessor.GetValue(message) is string { Length: > 0 } id
            ? id[..Math.Min(id.Length, 256)]
            : null;
    }

    /// <summary>One counted stream, released when the call ends however it ends.</summary>
    private sealed class StreamLease(StreamCounter counter, string caller) : IDisposable
    {
        public void Dispose() => counter.Close(caller);
    }
}
