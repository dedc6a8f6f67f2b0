using System.Text.RegularExpressions;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>`schedctl jobs why` and `schedctl top` as processes against a real master and two 4-GPU workers.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class OpsCommandsTests
{
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster()
    {
        _cluster = await TestCluster.StartAsync("ops-cli");
        _cluster.StartWorker("w1", gpus: 4, labels: "zone=a");
        _cluster.StartWorker("w2", gpus: 4, labels: "zone=a");
        await Eventually.TrueAsync(
            async () => Regex.Count((await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "-o", "json")).Out, "NODE_HEALTH_READY") == 2,
            "w1 and w2 to be ready");
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
    public async Task Jobs_why_counts_the_nodes_too_small_for_a_job()
    {
        var id = await SubmitAsync("--gpus", "8", "--", "/bin/true");
        try
        {
            var why = await WhyWhenAsync(id, o => o.Contains("capacity", StringComparison.Ordinal));

            Assert.That(why, Does.StartWith($"{id} PENDING: "));
            Assert.That(why, Does.Match(@"(?m)^capacity\s+2\s+too few GPUs in total\s+w1, w2$"));
            Assert.That(why, Does.Contain("nodes: 2, fit now: 0"));
        }
        finally
        {
            await Schedctl.RunAsync(_cluster.MasterUrl, null, "cancel", id);
        }
    }

    [Test]
    public async Task Jobs_why_names_a_cordoned_node_and_a_node_selector_mismatch()
    {
        await Schedctl.RunAsync(_cluster.MasterUrl, null, "cordon", "w2");
        var id = await SubmitAsync("--gpus", "1", "--selector", "zone=b", "--", "/bin/true");
        try
        {
            var why = await WhyWhenAsync(id, o => o.Contains("cordon ", StringComparison.Ordinal));

            Assert.That(why, Does.Match(@"(?m)^cordon\s+1\s+cordoned\s+w2$"));
            Assert.That(why, Does.Match(@"(?m)^labels\s+1\s+labels do not match\s+w1$"));
            Assert.That(why, Does.Contain("(on zone=b)"));
        }
        finally
        {
            await Schedctl.RunAsync(_cluster.MasterUrl, null, "cancel", id);
            await Schedctl.RunAsync(_cluster.MasterUrl, null, "uncordon", "w2");
        }
    }

    [Test]
    public async Task Jobs_why_for_a_running_job_names_its_node_its_score_and_the_runner_up()
    {
        var id = await SubmitAsync("--gpus", "1", "--", "/bin/sleep", "60");
        try
        {
            var why = await WhyWhenAsync(id, o => o.Contains("RUNNING", StringComparison.Ordinal));

            var placed = Regex.Match(why, @"(?m)^placed:\s+(w\d)\s+score -?[0-9.]+");
            Assert.That(placed.Success, Is.True, why);
            var other = placed.Groups[1].Value == "w1" ? "w2" : "w1";
            Assert.That(why, Does.Match($@"(?m)^runner-up:\s+{other}\s+score -?[0-9.]+"));
            Assert.That(why, Does.Contain("released hypothetically"));
        }
        finally
        {
            await Schedctl.RunAsync(_cluster.MasterUrl, null, "cancel", id);
        }
    }

    [Test]
    public async Task Top_once_prints_every_node_and_its_gpu_rows_within_80_columns()
    {
        var top = await Schedctl.RunAsync(_cluster.MasterUrl, null, "top", "--once");

        Assert.That(top.ExitCode, Is.Zero, top.Err);
        var lines = top.Out.TrimEnd('\n').Split('\n');
        Assert.That(lines, Has.Some.Match(@"^w1\s+READY"));
        Assert.That(lines, Has.Some.Match(@"^w2\s+READY"));
        Assert.That(lines.Count(l => Regex.IsMatch(l, @"^\s+[0-3] A100\s+\[[#.]{10}\]\s+\d+%")), Is.EqualTo(8), top.Out);
        Assert.That(lines.Max(l => l.Length), Is.LessThanOrEqualTo(80), top.Out);
    }

    private async Task<string> SubmitAsync(params string[] args)
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, ["submit", .. args]);
        Assert.That(submit.ExitCode, Is.Zero, submit.Err);
        return submit.Out.Trim();
    }

    // The first pass after a submit fills in the pending reason; ask until the output shows what the test is about.
    private Task<string> WhyWhenAsync(string id, Func<string, bool> ready) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var why = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "why", id);
                Assert.That(why.ExitCode, Is.Zero, why.Err);
                return ready(why.Out) ? why.Out : null;
            },
            $"jobs why {id} to explain it");
}
