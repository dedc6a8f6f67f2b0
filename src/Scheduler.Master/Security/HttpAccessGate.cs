using Scheduler.Hosting;
using Microsoft.Extensions.Options;

namespace Scheduler.Master.Security;

/// <summary>
/// With <c>--auth</c>, the status page (<c>--http-listen</c>) and the Prometheus endpoint
/// (<c>--metrics-listen</c>) answer only a token of role operator or admin: they show every node and
/// job, which a submitter may not see. A scraper sends <c>Authorization: Bearer TOKEN</c>; a browser
/// opens the page once with <c>?token=TOKEN</c> (or the form the page shows without one), which sets
/// an HttpOnly, SameSite=Strict cookie and redirects to the same path without the token. Without
/// <c>--auth</c> nothing changes (both bind to loopback by default).
/// </summary>
internal static class HttpAccessGate
{
    /// <summary>The cookie that carries the page's token after the first visit.</summary>
    public const string Cookie = "scheduler_token";

    private const string QueryToken = "token";

    /// <summary>Adds the gate in front of the status page and <c>/metrics</c>, when auth is on.</summary>
    public static void Use(WebApplication app, MetricsEndpoint? metrics)
    {
        if (!app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value.Enabled)
        {
            return;
        }

        app.Use(async (context, next) =>
        {
            var isStatus = StatusPage.StatusEndpoint.IsStatusConnection(context);
            var isMetrics = metrics is not null && context.Connection.LocalPort == metrics.Port && !isStatus;
            if ((!isStatus && !isMetrics) || await AdmitAsync(context, isStatus))
            {
                await next(context);
            }
        });
    }

    private static async Task<bool> AdmitAsync(HttpContext context, bool isStatus)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        var fromQuery = isStatus && request.Query.TryGetValue(QueryToken, out var query) && query.ToString() is { Length: > 0 } queried ? queried : null;
        var header = fromQuery is not null
            ? "Bearer " + fromQuery
            : request.Headers.Authorization.ToString() is { Length: > 0 } given
                ? given
                : isStatus && request.Cookies.TryGetValue(Cookie, out var cookie) ? "Bearer " + cookie : null;
        var services = context.RequestServices;
        var (identity, refusal) = await services.GetRequiredService<Authenticator>().AuthenticateBearerAsync(header, context.RequestAborted);
        var what = $"{request.Method} {(isStatus ? "status page" : "metrics")} {request.Path}";
        if (identity is null)
        {
            services.GetRequiredService<AuditLog>().Write("anonymous", what, null, "Unauthenticated", refusal);
            response.StatusCode = StatusCodes.Status401Unauthorized;
            response.Headers.WWWAuthenticate = "Bearer realm=\"scheduler\"";
            if (isStatus && header is null && request.Path.Value is "/" or "/index.html")
            {
                response.ContentType = "text/html; charset=utf-8";
                response.Headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'";
                await response.WriteAsync(LoginForm, context.RequestAborted);
            }
            else
            {
                await response.WriteAsync($"{refusal}: this master runs with --auth; send an operator or admin token (Authorization: Bearer TOKEN, or open the page with ?token=TOKEN)\n", context.RequestAborted);
            }

            return false;
        }

        if (identity.Role is not (Role.Admin or Role.Operator))
        {
            services.GetRequiredService<AuditLog>().Write(identity.Who, what, null, "PermissionDenied", $"role {RoleNames.Of(identity.Role)} may not read the status page or metrics (allowed: admin, operator)");
            response.StatusCode = StatusCodes.Status403Forbidden;
            await response.WriteAsync($"role {RoleNames.Of(identity.Role)} may not read the status page or metrics (allowed: admin, operator)\n", context.RequestAborted);
            return false;
        }

        if (fromQuery is not null)
        {
            // A token that passed goes into a cookie and out of the address bar (and of the history that
            // keeps it). Only a token that passed: a link must not plant someone else's. Back to a path
            // of this page only: "//host/..." would send the browser elsewhere.
            response.Cookies.Append(Cookie, fromQuery, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
            response.StatusCode = StatusCodes.Status303SeeOther;
            response.Headers.Location = LocalPath(request.PathBase + request.Path);
            return false;
        }

        return true;
    }

    /// <summary><paramref name="path"/> if it names a path on this server, "/" otherwise.</summary>
    internal static string LocalPath(PathString path) =>
        path.Value is { Length: > 0 } value && value[0] == '/' && (value.Length == 1 || (value[1] != '/' && value[1] != '\\'))
            ? value
            : "/";

    private const string LoginForm = """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>scheduler: sign in</title></head>
        <body style="font-family: sans-serif; margin: 3em">
        <h1>Scheduler status</h1>
        <p>This master runs with <code>--auth</code>: give an operator or admin token.</p>
        <form method="get" action="/"><input type="password" name="token" size="60" autofocus> <button>Open</button></form>
        </body></html>
        """;
}
