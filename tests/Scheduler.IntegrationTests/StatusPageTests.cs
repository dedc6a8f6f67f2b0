using System.Net;
using System.Text.Json;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>The master's status page (`--http-listen`) in headless Chromium, against a real master and worker.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class StatusPageTests
{
    [Test]
    public async Task The_page_shows_the_nodes_and_a_submitted_job_in_a_browser()
    {
        var chromium = Chromium.RequireOrIgnore();
        await using var cluster = await TestCluster.StartAsync("status-page", masterArgs: ["--http-listen", "127.0.0.1:0"]);
        cluster.StartWorker("page-w1", gpus: 2);
        cluster.StartWorker("page-w2", gpus: 2);
        using var api = new ClusterApi(cluster.MasterUrl);
        await api.WaitForReadyNodesAsync("page-w1", "page-w2");
        var spec = ClusterApi.Shell("sleep 60", gpus: 1);
        spec.Name = "page-visible-job";
        var job = await api.SubmitAsync(spec);
        await api.WaitForStateAsync(job.Id, JobState.Running);
        var url = await StatusUrlAsync(cluster);

        var dom = await Eventually.ReturnsAsync(
            async () =>
            {
                var page = await Chromium.DumpDomAsync(chromium, url, cluster.Root);
                return page.Contains("page-w2", StringComparison.Ordinal) && page.Contains(job.Id, StringComparison.Ordinal) ? page : null;
            },
            "the page to show both nodes and the job");

        Assert.That(dom, Does.Contain("data-node=\"page-w1\"").And.Contain("data-node=\"page-w2\""));
        Assert.That(dom, Does.Contain("page-visible-job"), "the running table names the job");
        Assert.That(dom, Does.Contain("Leader "), "the leader line was filled in by the script");
        Assert.That(dom, Does.Contain("<div id=\"error\" class=\"bad\"></div>"), "the last poll reached the master");
    }

    [Test]
    public async Task The_json_endpoint_serves_reads_only_on_the_status_listener()
    {
        await using var cluster = await TestCluster.StartAsync("status-json", masterArgs: ["--http-listen", "127.0.0.1:0"]);
        cluster.StartWorker("json-w1", gpus: 1);
        using var api = new ClusterApi(cluster.MasterUrl);
        await api.WaitForReadyNodesAsync("json-w1");
        var url = await StatusUrlAsync(cluster);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        using var status = JsonDocument.Parse(await http.GetStringAsync(url + "api/status"));
        using var post = await http.PostAsync(url + "api/status", new StringContent(""));
        using var unknown = await http.GetAsync(url + "nope");

        var root = status.RootElement;
        Assert.That(root.GetProperty("leader").GetProperty("isLeader").GetBoolean(), Is.True);
        Assert.That(root.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()), Is.EqualTo(new[] { "json-w1" }));
        Assert.That(root.GetProperty("nodes")[0].GetProperty("gpus").GetArrayLength(), Is.EqualTo(1));
        Assert.That(post.StatusCode, Is.EqualTo(HttpStatusCode.MethodNotAllowed), "read-only");
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(File.Exists(Path.Combine(cluster.MasterDataDir, "status.url")), Is.True);
    }

    private static Task<string> StatusUrlAsync(TestCluster cluster)
    {
        var file = Path.Combine(cluster.MasterDataDir, "status.url");
        return Eventually.ReturnsAsync(
            () => Task.FromResult(File.Exists(file) ? File.ReadAllText(file).Trim() : null),
            "the master to write status.url");
    }
}
