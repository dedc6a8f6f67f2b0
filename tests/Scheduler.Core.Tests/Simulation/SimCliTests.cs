using System.Text.Json;
using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

public sealed class SimCliTests
{
    private string _dir = string.Empty;

    [SetUp]
    public void CreateFiles()
    {
        _dir = Path.Combine(Path.GetTempPath(), "simcli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        File.WriteAllLines(Path.Combine(_dir, "nodes.csv"), ["sn,cpu_milli,memory_mib,gpu,model", "a,16000,65536,1,T4", "b,16000,65536,1,T4"]);
        File.WriteAllLines(Path.Combine(_dir, "tasks.csv"), ["name,cpu_milli,memory_mib,num_gpu,gpu_milli", "s,1000,1024,1,400"]);
    }

    [TearDown]
    public void DeleteFiles() => Directory.Delete(_dir, recursive: true);

    [Test]
    [CancelAfter(30_000)]
    public async Task Prints_one_json_object_with_a_result_per_policy(CancellationToken ct)
    {
        using var output = new StringWriter();

        var code = await SimCli.RunAsync(
            ["--nodes", Path.Combine(_dir, "nodes.csv"), "--tasks", Path.Combine(_dir, "tasks.csv"), "--policy", "best-fit,fgd", "--seeds", "42-43", "-o", "json"],
            output,
            ct);

        Assert.That(code, Is.Zero, output.ToString());
        using var json = JsonDocument.Parse(output.ToString());
        var results = json.RootElement.GetProperty("results");
        Assert.That(results.GetArrayLength(), Is.EqualTo(2));
        Assert.That(results[0].GetProperty("policy").GetString(), Is.EqualTo("best-fit"));
        Assert.That(results[0].GetProperty("alloc100").GetDouble(), Is.EqualTo(80));
        Assert.That(results[1].GetProperty("alloc130").GetDouble(), Is.EqualTo(80));
        Assert.That(results[1].GetProperty("frag100").GetDouble(), Is.EqualTo(20));
        Assert.That(results[1].GetProperty("seconds").GetDouble(), Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Evaluates_the_default_policy_alone_in_a_table_naming_the_machine(CancellationToken ct)
    {
        using var output = new StringWriter();

        var code = await SimCli.RunAsync(["--nodes", Path.Combine(_dir, "nodes.csv"), "--tasks", Path.Combine(_dir, "tasks.csv")], output, ct);

        var text = output.ToString();
        Assert.That(code, Is.Zero, text);
        Assert.That(text, Does.Contain("machine:").And.Contain(Environment.ProcessorCount + " cores"));
        Assert.That(text, Does.Contain(PlacementDefaults.Name));
        Assert.That(text, Does.Not.Contain("best-fit"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Rejects_an_unknown_policy_with_exit_code_2(CancellationToken ct)
    {
        using var output = new StringWriter();

        var code = await SimCli.RunAsync(["--nodes", "n.csv", "--tasks", "t.csv", "--policy", "nope"], output, ct);

        Assert.That(code, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("unknown policy 'nope'"));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task A_suite_replays_the_twelve_workloads_beside_the_papers_figures(CancellationToken ct)
    {
        var suite = Path.Combine(_dir, "suite");
        Directory.CreateDirectory(suite);
        File.Copy(Path.Combine(_dir, "nodes.csv"), Path.Combine(suite, SimSuite.NodeFile));
        foreach (var w in PaperFigures.Workloads)
        {
            File.Copy(Path.Combine(_dir, "tasks.csv"), SimSuite.TaskFile(suite, w));
        }

        using var json = new StringWriter();
        var code = await SimCli.RunAsync(["--suite", suite, "--policy", "best-fit-paper,fgd", "--seeds", "42", "-o", "json"], json, ct);

        Assert.That(code, Is.Zero, json.ToString());
        using var doc = JsonDocument.Parse(json.ToString());
        var results = doc.RootElement.GetProperty("results");
        Assert.That(results.GetArrayLength(), Is.EqualTo(24));
        var first = results[0];
        Assert.That(first.GetProperty("workload").GetString(), Is.EqualTo("default"));
        Assert.That(first.GetProperty("policy").GetString(), Is.EqualTo("best-fit-paper"));
        Assert.That(first.GetProperty("alloc100").GetDouble(), Is.EqualTo(80), "the hand-computed trace of Replays_a_shared_gpu_trace_as_computed_by_hand");
        Assert.That(first.GetProperty("paper").GetProperty("alloc100").GetDouble(), Is.EqualTo(92.86));
        Assert.That(results[1].GetProperty("paper").GetProperty("alloc130").GetDouble(), Is.EqualTo(95.39));

        using var table = new StringWriter();
        code = await SimCli.RunAsync(["--suite", suite, "--seeds", "42"], table, ct);

        var text = table.ToString();
        Assert.That(code, Is.Zero, text);
        Assert.That(text, Does.Contain("| policy | default | cpu050 |").And.Contain("| paper's FGD |").And.Contain("fgd − paper"));
        Assert.That(text, Does.Contain($"**{PlacementDefaults.Name} (default)**").And.Contain("vs the paper's FGD at 100%").And.Contain("time:"));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task A_suite_refuses_explicit_node_and_task_lists(CancellationToken ct)
    {
        using var output = new StringWriter();

        var code = await SimCli.RunAsync(["--suite", _dir, "--nodes", "n.csv"], output, ct);

        Assert.That(code, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("--suite"));
    }
}
