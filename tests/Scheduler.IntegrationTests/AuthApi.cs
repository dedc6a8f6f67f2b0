using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Calls to a master with auth on: typed clients that send a given bearer token, and a raw call of
/// any method named by its descriptor (an empty request), answering the status it ended with.
/// The channel is built as a user's would be: TLS against the cluster's CA with a client certificate
/// (client:tests) for https:// masters, so auth is exercised on top of mutual TLS; plaintext for http://.
/// </summary>
public sealed class AuthApi : IDisposable
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);
    private readonly GrpcChannel _channel;

    public AuthApi(string masterUrl) => _channel = TestCertificates.Channel(masterUrl);

    public CallInvoker Invoker => _channel.CreateCallInvoker();

    public Jobs.JobsClient Jobs(string? token) => new(WithToken(token));

    public Admin.AdminClient Admin(string? token) => new(WithToken(token));

    /// <summary>The master's bootstrap admin token, as it wrote it to the file.</summary>
    public static string ReadToken(string file) => File.ReadAllText(file).Trim();

    public async Task<string> CreateTokenAsync(string adminToken, string role, string name, string tenant = "")
    {
        var created = await Admin(adminToken).CreateTokenAsync(new CreateTokenRequest { Role = role, Name = name, Tenant = tenant }, deadline: Deadline());
        return created.Secret;
    }

    /// <summary>Calls <paramref name="method"/> with an empty request (and, for streams, reads one message); the status it ended with.</summary>
    public async Task<StatusCode> CallAsync(MethodDescriptor method, string? token) => (await CallForStatusAsync(method, token)).StatusCode;

    /// <summary>As <see cref="CallAsync"/>, with the status's detail (who refused, and why).</summary>
    public async Task<Status> CallForStatusAsync(MethodDescriptor method, string? token)
    {
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (true, false) => MethodType.ClientStreaming,
            (false, true) => MethodType.ServerStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var grpcMethod = new Method<byte[], byte[]>(type, method.Service.FullName, method.Name, Raw, Raw);
        var options = new CallOptions(headers: Headers(token), deadline: Deadline(10));
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    using (var call = _channel.CreateCallInvoker().AsyncUnaryCall(grpcMethod, null, options, []))
                    {
                        await call.ResponseAsync;
                    }

                    break;
                case MethodType.ClientStreaming:
                    using (var call = _channel.CreateCallInvoker().AsyncClientStreamingCall(grpcMethod, null, options))
                    {
                        await SendAsync(call.RequestStream, null);
                        await call.ResponseAsync;
                    }

                    break;
                case MethodType.ServerStreaming:
                    using (var call = _channel.CreateCallInvoker().AsyncServerStreamingCall(grpcMethod, null, options, []))
                    {
                        await call.ResponseStream.MoveNext(CancellationToken.None);
                    }

                    break;
                default:
                    using (var call = _channel.CreateCallInvoker().AsyncDuplexStreamingCall(grpcMethod, null, options))
                    {
                        // A worker's first message must be its registration: an empty one is answered with an error status.
                        await SendAsync(call.RequestStream, []);
                        await call.ResponseStream.MoveNext(CancellationToken.None);
                    }

                    break;
            }

            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    public static DateTime Deadline(int seconds = 30) => DateTime.UtcNow.AddSeconds(seconds);

    public static Metadata? Headers(string? token) => token is null ? null : new Metadata { { "authorization", "Bearer " + token } };

    public void Dispose() => _channel.Dispose();

    /// <summary>
    /// Writes <paramref name="message"/> (if any) and completes the request stream. A master that refuses the
    /// call answers as soon as it has the headers, so the write may find the call over: the status it ended
    /// with is then read from the response, not from the failed write.
    /// </summary>
    private static async Task SendAsync(IClientStreamWriter<byte[]> requests, byte[]? message)
    {
        try
        {
            if (message is not null)
            {
                await requests.WriteAsync(message);
            }

            await requests.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
        {
        }
    }

    private CallInvoker WithToken(string? token) =>
        _channel.CreateCallInvoker().Intercept(metadata =>
        {
            if (token is not null)
            {
                metadata.Add("authorization", "Bearer " + token);
            }

            return metadata;
        });
}
