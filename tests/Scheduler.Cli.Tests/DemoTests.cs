namespace Scheduler.Cli.Tests;

/// <summary>The README's main job, end to end: `schedctl demo` must pass and clean up after itself.</summary>
[TestFixture]
public sealed class DemoTests
{
    [Test]
    [CancelAfter(120_000)]
    public async Task Demo_runs_a_batch_survives_a_killed_worker_and_exits_zero()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"demo-{Guid.NewGuid():N}");
        try
        {
            var result = await Schedctl.RunAsync(null, TimeSpan.FromSeconds(110), "demo", "--dir", dir);

            Assert.That(result.ExitCode, Is.Zero, result.Out + result.Err);
            Assert.That(result.Out, Does.Contain("with SIGKILL").And.Contain("demo passed"));
            Assert.That(result.Out, Does.Match("requeued off worker-[ab] and completed elsewhere"));
            Assert.That(result.Out, Does.Match(@"live-migrated worker-[ab] -> worker-[ab]: \d+ rounds, .*downtime \d+ ms"));
            Assert.That(result.Out, Does.Match(@"suspended at \d+: checkpoint c-j-\d+-\d+-[0-9a-f]+ on worker-[ab], worker-[ab]"));
            Assert.That(result.Out, Does.Match(@"resumed on worker-[ab] \(attempt 3\)"));
            Assert.That(result.Out, Does.Contain("counted 1.."), "the counter's own ledger shows it continued without a gap or a repeat");
            var pids = Directory.GetFiles(dir, "*.log").Length;
            Assert.That(pids, Is.EqualTo(3), "a master and two worker logs");
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Test]
    [CancelAfter(300_000)]
    public async Task Demo_ha_survives_a_killed_leader_runs_every_job_once_and_exits_zero()
    {
        RequireEtcd.OrIgnore();
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"demo-ha-{Guid.NewGuid():N}");
        try
        {
            var result = await Schedctl.RunAsync(null, TimeSpan.FromSeconds(280), "demo", "--ha", "--dir", dir);

            Assert.That(result.ExitCode, Is.Zero, result.Out + result.Err);
            Assert.That(result.Out, Does.Contain("kill -9 the leader master-").And.Contain("== takeover: master-").And.Contain("demo passed"));
            Assert.That(LocalProcesses.Mentioning(dir), Is.Empty, "etcd, masters, workers and agents are gone");
        }
        finally
        {
            LocalProcesses.KillAll(dir, []);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

}
