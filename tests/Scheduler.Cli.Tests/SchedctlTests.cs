using System.Text.Json;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>schedctl as a process against a real master and worker.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class SchedctlTests
{
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster()
    {
        _cluster = await TestCluster.StartAsync("schedctl");
        _cluster.StartWorker("w1", gpus: 2);
        await Eventually.TrueAsync(
            async () => (await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "-o", "json")).Out.Contains("NODE_HEALTH_READY", StringComparison.Ordinal),
            "w1 to be ready");
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
    public async Task Submit_then_wait_then_logs_shows_the_agent_output()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--name", "cli-hello", "--gpus", "1", "--", "/bin/sh", "-c", "echo gpu=$CUDA_VISIBLE_DEVICES");
        Assert.That(submit.ExitCode, Is.Zero, submit.Err);
        var id = submit.Out.Trim();

        var wait = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "wait", id, "--timeout", "30");
        var logs = await Schedctl.RunAsync(_cluster.MasterUrl, null, "logs", id);
        var list = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "list");

        Assert.That(wait.ExitCode, Is.Zero, wait.Out + wait.Err);
        Assert.That(logs.Out, Does.Match("gpu=GPU-[0-9a-f-]+"));
        Assert.That(list.Out, Does.Contain(id).And.Contain("cli-hello").And.Contain("SUCCEEDED"));
    }

    [Test]
    public async Task Suspend_waits_for_the_checkpoint_and_resume_finishes_the_job_from_it()
    {
        var ledger = Path.Combine(Path.GetTempPath(), $"schedctl-suspend-{Guid.NewGuid():N}.ledger");
        try
        {
            var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--checkpointable", "--env", $"COUNTER_LEDGER={ledger}", "--", "dotnet", Artifacts.CounterAgentDll, "50", "300");
            var id = submit.Out.Trim();
            await Eventually.TrueAsync(() => File.Exists(ledger) && File.ReadAllLines(ledger).Length >= 5, "the counter to count");

            // 300 values at 50 ms: 15 s of counting, so the suspend (a schedctl process of its own, slow to start
            // on a loaded machine) reaches the job while it runs.
            var suspend = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "suspend", id, "--wait");
            var get = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", id);
            var resume = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "resume", id);
            var wait = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "wait", id, "--timeout", "120");

            Assert.That(suspend.ExitCode, Is.Zero, suspend.Out + suspend.Err);
            Assert.That(suspend.Out, Does.Match($@"^{id} SUSPENDED: checkpoint c-{id}-1-[0-9a-f]+ on w1, "));
            Assert.That(get.Out, Does.Contain("SUSPENDED").And.Match(@"Checkpoint\s+c-"));
            Assert.That(resume.Out, Does.StartWith($"{id} PENDING: resumed"));
            Assert.That(wait.ExitCode, Is.Zero, wait.Out + wait.Err);
            var values = File.ReadAllLines(ledger).Where(l => l.Length > 0).Select(long.Parse).ToList();
            Assert.That(values, Is.EqualTo(Enumerable.Range(1, 300).Select(v => (long)v)), "counted to 300 once, resumed from the checkpoint");
        }
        finally
        {
            File.Delete(ledger);
        }
    }

    [Test]
    public async Task Failed_job_makes_wait_exit_non_zero()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--wait", "--", "/bin/sh", "-c", "exit 5");

        Assert.That(submit.ExitCode, Is.EqualTo(1));
        Assert.That(submit.Out, Does.Contain("FAILED"));
    }

    [Test]
    public async Task Cancel_and_json_output_agree_with_the_master()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "-o", "json", "--", "/bin/sleep", "60");
        var id = JsonDocument.Parse(submit.Out).RootElement.GetProperty("id").GetString()!;

        var cancel = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "cancel", id);
        var get = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", id, "-o", "json");

        Assert.That(cancel.ExitCode, Is.Zero, cancel.Err);
        Assert.That(JsonDocument.Parse(get.Out).RootElement.GetProperty("state").GetString(), Is.EqualTo("JOB_STATE_CANCELLED"));
    }

    [Test]
    public async Task Cancel_of_a_finished_job_is_an_error_naming_its_state_with_exit_code_2()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--wait", "--", "/bin/true");
        var id = submit.Out.Split('\n')[0].Trim();

        var cancel = await Schedctl.RunAsync(_cluster.MasterUrl, null, "cancel", id);

        Assert.That(cancel.ExitCode, Is.EqualTo(2));
        Assert.That(cancel.Err.TrimEnd(), Is.EqualTo($"error: FailedPrecondition: job {id} already finished (SUCCEEDED): there is nothing to cancel"));
    }

    [Test]
    public async Task Logs_attempt_shows_that_attempt_and_one_that_never_ran_is_an_error()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--wait", "--", "/bin/sh", "-c", "echo attempt $SCHEDULER_ATTEMPT");
        var id = submit.Out.Split('\n')[0].Trim();

        var first = await Schedctl.RunAsync(_cluster.MasterUrl, null, "logs", id, "--attempt", "1");
        var never = await Schedctl.RunAsync(_cluster.MasterUrl, null, "logs", id, "--attempt", "2");

        Assert.That((first.ExitCode, first.Out.Trim()), Is.EqualTo((0, "attempt 1")), first.Err);
        Assert.That(never.ExitCode, Is.EqualTo(2));
        Assert.That(never.Err, Does.StartWith("error: InvalidArgument: attempt must be between 1 and 1"));
    }

    [Test]
    public async Task Jobs_says_on_stderr_when_it_shows_only_the_newest()
    {
        await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--", "/bin/true");
        await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--", "/bin/true");

        var one = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "--limit", "1");

        Assert.That(one.ExitCode, Is.Zero, one.Err);
        Assert.That(one.Out.Split('\n').Count(l => l.TrimStart().StartsWith("j-", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(one.Err.Trim(), Is.EqualTo("(the newest 1 shown; --limit 0 shows all, --state filters)"));
    }

    [Test]
    public async Task Jobs_without_a_priority_show_the_default_100()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "-o", "json", "--", "/bin/true");
        var id = JsonDocument.Parse(submit.Out).RootElement.GetProperty("id").GetString()!;

        var get = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", id);

        Assert.That(JsonDocument.Parse(submit.Out).RootElement.GetProperty("spec").GetProperty("priority").GetInt32(), Is.EqualTo(100));
        Assert.That(get.Out, Does.Match(@"Priority\s+100"));
    }

    [Test]
    public async Task Resubmitting_with_the_same_request_id_returns_the_first_job()
    {
        var requestId = $"cli-test-{Guid.NewGuid():N}";

        var first = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--request-id", requestId, "--", "/bin/true");
        var second = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--request-id", requestId, "--", "/bin/true");

        Assert.That((first.ExitCode, second.ExitCode), Is.EqualTo((0, 0)), first.Err + second.Err);
        Assert.That(second.Out.Trim(), Is.EqualTo($"{first.Out.Trim()} (already submitted with this request id)"));
    }

    [Test]
    public async Task Logs_follow_prints_every_line_once_and_returns_when_the_job_ends()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--", "/bin/sh", "-c", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.3; done");
        var id = submit.Out.Trim();

        var follow = await Schedctl.RunAsync(_cluster.MasterUrl, TimeSpan.FromSeconds(30), "logs", id, "--follow");

        Assert.That(follow.ExitCode, Is.Zero, follow.Err);
        Assert.That(follow.Out, Is.EqualTo("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n"));
    }

    [Test]
    public async Task Top_level_shortcuts_reach_the_same_commands()
    {
        var submit = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--", "/bin/sleep", "60");
        var id = submit.Out.Trim();

        var cancel = await Schedctl.RunAsync(_cluster.MasterUrl, null, "cancel", id);
        var wait = await Schedctl.RunAsync(_cluster.MasterUrl, null, "wait", id, "--timeout", "20");
        var describe = await Schedctl.RunAsync(_cluster.MasterUrl, null, "job", "describe", id);
        var watch = await Schedctl.RunAsync(_cluster.MasterUrl, TimeSpan.FromSeconds(20), "watch", id);
        var node = await Schedctl.RunAsync(_cluster.MasterUrl, null, "node", "describe", "w1");

        Assert.That(cancel.Out.Trim(), Is.EqualTo($"{id} CANCELLED"), cancel.Err);
        Assert.That(wait.ExitCode, Is.EqualTo(1), "a cancelled job did not succeed");
        Assert.That(describe.Out, Does.Contain("CANCELLED").And.Contain("/bin/sleep 60"));
        Assert.That(watch.ExitCode, Is.Zero, "watching one job returns once it has finished: " + watch.Err);
        Assert.That(watch.Out, Does.Contain($"{id} ").And.Contain("CANCELLED"));
        Assert.That(node.Out, Does.Contain("w1").And.Contain("GPU-"));
    }

    [Test]
    public async Task Bad_input_exits_2_with_one_line_naming_the_field()
    {
        var negative = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--gpus", "-1", "--", "/bin/true");
        var quantity = await Schedctl.RunAsync(_cluster.MasterUrl, null, "submit", "--memory", "lots", "--", "/bin/true");
        var unknown = await Schedctl.RunAsync(_cluster.MasterUrl, null, "jobs", "get", "j-does-not-exist");

        Assert.That(negative.ExitCode, Is.EqualTo(2));
        Assert.That(negative.Err, Does.StartWith("error: InvalidArgument").And.Contain("resources.gpus"));
        Assert.That((quantity.ExitCode, quantity.Err.Trim()), Is.EqualTo((2, "error: --memory: 'lots' is not a memory quantity (e.g. 4Gi, 512Mi, 1024)")));
        Assert.That(unknown.ExitCode, Is.EqualTo(2));
        Assert.That(unknown.Err, Does.StartWith("error: NotFound"));
    }

    [Test]
    public async Task Nodes_and_status_show_the_cluster()
    {
        var nodes = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes");
        var describe = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "describe", "w1");
        var status = await Schedctl.RunAsync(_cluster.MasterUrl, null, "status");
        var cordon = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "cordon", "w1");
        var cordoned = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes");
        var uncordon = await Schedctl.RunAsync(_cluster.MasterUrl, null, "nodes", "uncordon", "w1");

        Assert.That(nodes.Out, Does.Contain("w1").And.Contain("READY").And.Contain("A100"));
        Assert.That(describe.Out, Does.Contain("GPU-"));
        Assert.That(status.Out, Does.Contain("Nodes:    1/1 ready"));
        Assert.That((cordon.ExitCode, uncordon.ExitCode), Is.EqualTo((0, 0)));
        Assert.That(cordoned.Out, Does.Contain("cordoned"));
    }

    [Test]
    public async Task Without_master_flag_the_environment_wins_over_the_local_cluster_file()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"cwd-{Guid.NewGuid():N}");
        var addressFile = Path.Combine(dir, ".scheduler", "local", "master", "master.addr");
        Directory.CreateDirectory(Path.GetDirectoryName(addressFile)!);
        try
        {
            await File.WriteAllTextAsync(addressFile, _cluster.MasterUrl + "\n");
            var fromFile = await Schedctl.RunInAsync(dir, null, null, null, "leader");
            var fromEnv = await Schedctl.RunInAsync(dir, "http://127.0.0.1:1", null, TimeSpan.FromSeconds(60), "leader");

            Assert.That(fromFile.ExitCode, Is.Zero, fromFile.Err);
            Assert.That(fromFile.Out, Does.Contain(_cluster.MasterUrl));
            Assert.That(fromEnv.ExitCode, Is.EqualTo(2));
            Assert.That(fromEnv.Err, Does.Contain("127.0.0.1:1"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Client_moves_past_a_dead_master_address_and_submits_once()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var tls = TestCertificates.ClientOptions([]);
        var options = new SchedulerClientOptions
        {
            Addresses = SchedulerClientOptions.ParseAddresses($"https://127.0.0.1:1,{_cluster.MasterUrl}"),
            CaCertificate = tls.CaCertificate,
            ClientCertificate = tls.ClientCertificate,
            InitialBackoff = TimeSpan.FromMilliseconds(10),
        };
        await using var client = new SchedulerClient(options);
        var spec = new JobSpec { Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64 } };

        var submitted = await client.SubmitAsync(spec, null, limit.Token);
        var jobs = await client.ListJobsAsync(null, 0, limit.Token);

        Assert.That(submitted.Created, Is.True);
        Assert.That(client.CurrentAddress.Port, Is.EqualTo(new Uri(_cluster.MasterUrl).Port));
        Assert.That(jobs.Count(j => j.RequestId == submitted.Job.RequestId), Is.EqualTo(1));
    }

    [Test]
    public async Task Unreachable_master_is_reported_with_its_address()
    {
        var result = await Schedctl.RunAsync("http://127.0.0.1:1", TimeSpan.FromSeconds(60), "jobs");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err, Does.StartWith("error: ").And.Contain("127.0.0.1:1"));
    }
}
