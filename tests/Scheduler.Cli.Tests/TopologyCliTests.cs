using System.Text.Json;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>
/// GPU topology end to end: a real worker process started with two simulated NVLink islands of four, a real
/// master placing on it, and schedctl showing what it did.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class TopologyCliTests
{
    private const string Node = "w-islands";
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster()
    {
        _cluster = await TestCluster.StartAsync("topology");
        _cluster.StartWorker(Node, gpus: 8, extraArgs: ["--sim-gpu-topology", "nvlink:0-3,4-7;numa:0-3,4-7"]);
        await Eventually.TrueAsync(
            async () => (await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "-o", "json")).Out.Contains("NODE_HEALTH_READY", StringComparison.Ordinal),
            $"{Node} to be ready");
    }

    [OneTimeTearDown]
    public async Task StopCluster()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Test]
    public async Task Nodes_describe_shows_each_gpus_island_numa_node_and_nvlink_peers()
    {
        var describe = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "describe", Node);

        Assert.That(describe.ExitCode, Is.Zero, describe.Err);
        Assert.That(describe.Out, Does.Contain("NVLink islands: 1: GPUs 0-3; 2: GPUs 4-7")
            .And.Contain("NUMA nodes:     1: GPUs 0-3; 2: GPUs 4-7")
            .And.Contain("PCIe switches:  none"));
        var gpu5 = describe.Out.Split('\n').Single(l => l.TrimStart().StartsWith("5 ", StringComparison.Ordinal) && l.Contains("4,6-7", StringComparison.Ordinal));
        Assert.That(gpu5.Split(' ', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "5", "2", "-", "2", "4,6-7" }));
    }

    [Test]
    public async Task A_four_gpu_job_lands_in_one_island_and_an_nvlink_job_waits_until_an_island_is_whole()
    {
        // Four pairs fill the islands pair by pair; ending the first and third leaves 0, 1, 4 and 5 free.
        var pairs = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            pairs.Add(await SubmitAsync("--gpus", "2", "--", "/bin/sleep", "300"));
            await Eventually.TrueAsync(async () => (await GetAsync(pairs[^1])).GetProperty("state").GetString() == "JOB_STATE_RUNNING", $"pair {i} to run");
        }

        Assert.That(await Task.WhenAll(pairs.Select(IndicesAsync)), Is.EqualTo(new[] { new[] { 0, 1 }, [2, 3], [4, 5], [6, 7] }));
        await CancelAsync(pairs[0]);
        await CancelAsync(pairs[2]);

        var linked = await SubmitAsync("--gpus", "4", "--topology", "nvlink", "--", "/bin/sleep", "300");
        var reason = await Eventually.ReturnsAsync(
            async () => (await GetAsync(linked)).GetProperty("pendingReason").GetString() is { Length: > 0 } r && r.Contains("topology", StringComparison.Ordinal) ? r : null,
            "the nvlink job to say why it waits");
        var why = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "why", linked);

        Assert.That(reason, Does.Contain("topology nvlink: no NVLink island has 4 free GPUs"));
        Assert.That(why.Out, Does.Contain("topology").And.Contain("no NVLink island has 4 free GPUs"), why.Err);

        await CancelAsync(pairs[1]);
        await Eventually.TrueAsync(async () => (await GetAsync(linked)).GetProperty("state").GetString() == "JOB_STATE_RUNNING", "the nvlink job to run once 0-3 is free");
        var get = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", linked);

        Assert.That(await IndicesAsync(linked), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(get.Out, Does.Match(@"GPUs\s+0, 1, 2, 3 \(GPU-").And.Match(@"Topology\s+nvlink \(required\)"));
        await CancelAsync(linked);
        await CancelAsync(pairs[3]);
    }

    private async Task<string> SubmitAsync(params string[] args)
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, ["submit", .. args]);
        Assert.That(submit.ExitCode, Is.Zero, submit.Err);
        return submit.Out.Trim();
    }

    private async Task CancelAsync(string id)
    {
        var cancel = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "cancel", id);
        Assert.That(cancel.ExitCode, Is.Zero, cancel.Err);
    }

    private async Task<JsonElement> GetAsync(string id)
    {
        var get = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", id, "-o", "json");
        Assert.That(get.ExitCode, Is.Zero, get.Err);
        return JsonDocument.Parse(get.Out).RootElement.Clone();
    }

    private async Task<int[]> IndicesAsync(string id) =>
        [.. (await GetAsync(id)).GetProperty("gpuIndices").EnumerateArray().Select(e => e.GetInt32())];
}
