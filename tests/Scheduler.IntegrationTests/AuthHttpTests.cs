using System.Net;
using System.Net.Http.Headers;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// A real master with --auth, a status page and a Prometheus endpoint: both answer only an operator or
/// admin token (a header, or for the page a cookie set from ?token=), and refuse the rest.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class AuthHttpTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"authhttp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task With_auth_the_status_page_and_metrics_need_an_operator_or_admin_token()
    {
        var file = Path.Combine(_dir, "admin.token");
        await using var cluster = await TestCluster.StartAsync("authhttp", null, "--auth", "--bootstrap-token-file", file, "--http-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0");
        using var api = new AuthApi(cluster.MasterUrl);
        var admin = AuthApi.ReadToken(file);
        var operatorToken = await api.CreateTokenAsync(admin, "operator", "dashboards");
        var submitter = await api.CreateTokenAsync(admin, "submitter", "ci", "team-a");
        var status = await ReadFileAsync(Path.Combine(cluster.MasterDataDir, "status.url"));
        var metrics = await ReadFileAsync(Path.Combine(cluster.MasterDataDir, "metrics.addr")) + "/metrics";
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromSeconds(20) };

        var answers = new Dictionary<string, HttpStatusCode>
        {
            ["status JSON without a token"] = await StatusOf(http, status + "api/status", null),
            ["metrics without a token"] = await StatusOf(http, metrics, null),
            ["metrics with a token never issued"] = await StatusOf(http, metrics, "tk-nope.nope"),
            ["status JSON with a submitter token"] = await StatusOf(http, status + "api/status", submitter),
            ["metrics with a submitter token"] = await StatusOf(http, metrics, submitter),
            ["status JSON with an operator token"] = await StatusOf(http, status + "api/status", operatorToken),
            ["metrics with an admin token"] = await StatusOf(http, metrics, admin),
        };

        Assert.That(answers, Is.EqualTo(new Dictionary<string, HttpStatusCode>
        {
            ["status JSON without a token"] = HttpStatusCode.Unauthorized,
            ["metrics without a token"] = HttpStatusCode.Unauthorized,
            ["metrics with a token never issued"] = HttpStatusCode.Unauthorized,
            ["status JSON with a submitter token"] = HttpStatusCode.Forbidden,
            ["metrics with a submitter token"] = HttpStatusCode.Forbidden,
            ["status JSON with an operator token"] = HttpStatusCode.OK,
            ["metrics with an admin token"] = HttpStatusCode.OK,
        }));

        using var form = await http.GetAsync(status);
        Assert.That(form.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await form.Content.ReadAsStringAsync(), Does.Contain("name=\"token\""), "the page offers a form to give a token");

        // A browser opens the page once with ?token=: the token moves into an HttpOnly cookie and out of the URL.
        using var login = await http.GetAsync(status + "?token=" + Uri.EscapeDataString(operatorToken));
        Assert.That(login.StatusCode, Is.EqualTo(HttpStatusCode.SeeOther));
        Assert.That(login.Headers.Location?.ToString(), Is.EqualTo("/"));
        var cookie = login.Headers.GetValues("Set-Cookie").Single();
        Assert.That(cookie, Does.Contain("httponly").IgnoreCase.And.Contain("samesite=strict").IgnoreCase);

        using var withCookie = new HttpRequestMessage(HttpMethod.Get, status + "api/status");
        withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
        using var answered = await http.SendAsync(withCookie);
        Assert.That(answered.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the page's own polls carry the cookie");

        // A link cannot plant a token that does not pass, nor send the browser to another host.
        using var planted = await http.GetAsync(status + "?token=tk-nobody.not-a-secret");
        Assert.That(planted.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(planted.Headers.Contains("Set-Cookie"), Is.False, "no cookie for a token that did not pass");
        using var elsewhere = await http.GetAsync(status.TrimEnd('/') + "//evil.example/?token=" + Uri.EscapeDataString(operatorToken));
        Assert.That(elsewhere.Headers.Location?.ToString(), Is.EqualTo("/"), "back to this page only");
    }

    private static async Task<HttpStatusCode> StatusOf(HttpClient http, string url, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private static Task<string> ReadFileAsync(string file) =>
        Eventually.ReturnsAsync(() => Task.FromResult(File.Exists(file) ? File.ReadAllText(file).Trim() : null), $"{file} to be written");
}
