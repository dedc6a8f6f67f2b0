using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Scheduler.Master.Leadership;
using Scheduler.Master.Services;

namespace Scheduler.Master.StatusPage;

/// <summary>
/// The read-only status page on its own HTTP/1.1 listener (`--http-listen`): `/` is the page, and
/// `/api/status` the JSON it polls every second. Requests are told apart by the connection they came
/// in on (a mark set on that listener), so the gRPC port never answers them and other HTTP listeners
/// of this host serve only their own paths.
/// </summary>
internal static class StatusEndpoint
{
    private const string Mark = "scheduler.status-page";

    /// <summary>Makes <paramref name="listen"/> the status page's listener.</summary>
    public static void Configure(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1;
        listen.Use(next => connection =>
        {
            connection.Items[Mark] = true;
            return next(connection);
        });
    }

    /// <summary>Serves the page and its JSON on connections of the status listener only.</summary>
    public static void Map(WebApplication app) =>
        app.MapWhen(IsStatusConnection, page => page.Run(ServeAsync));

    /// <summary>Once listening: prints the page's URL and writes it to <c>status.url</c> in <paramref name="dataDir"/> (atomically, like master.addr).</summary>
    public static void Announce(ListenOptions listen, string dataDir)
    {
        // Kestrel puts the bound endpoint back on the options, so port 0 reads as the port it got.
        var endPoint = listen.IPEndPoint!;
        var host = endPoint.Address.Equals(System.Net.IPAddress.Any) || endPoint.Address.Equals(System.Net.IPAddress.IPv6Any)
            ? "127.0.0.1"
            : endPoint.Address.ToString();
        var url = $"http://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{endPoint.Port}/";
        var file = Path.Combine(dataDir, "status.url");
        File.WriteAllText(file + ".tmp", url);
        File.Move(file + ".tmp", file, overwrite: true);
        Console.WriteLine($"status page on {url}");
    }

    /// <summary>True for a request that came in on the status page's listener.</summary>
    public static bool IsStatusConnection(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(Mark) == true;

    private static async Task ServeAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }

        switch (request.Path.Value)
        {
            case "/" or "/index.html":
                response.ContentType = "text/html; charset=utf-8";
                response.Headers["Content-Security-Policy"] = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'";
                await response.WriteAsync(StatusPageHtml.Text, context.RequestAborted);
                break;
            case "/api/status":
                response.ContentType = "application/json; charset=utf-8";
                var services = context.RequestServices;
                var buffer = new ArrayBufferWriter<byte>(16 * 1024);
                using (var json = new Utf8JsonWriter(buffer))
                {
                    StatusSnapshot.Write(
                        json,
                        services.GetRequiredService<MasterRole>(),
                        services.GetRequiredService<IOptions<MasterOptions>>().Value,
                        services.GetRequiredService<MasterAddress>().Url,
                        services.GetRequiredService<TimeProvider>().GetUtcNow());
                }

                await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
                break;
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }
}
