using System.Diagnostics;
using Scheduler.Tests.Common;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Cli.Tests;

/// <summary>`schedctl up` as an operator runs it in a terminal: Ctrl+C must stop everything it started and lose no job.</summary>
[TestFixture]
[CancelAfter(240_000)]
public sealed class UpTests
{
    [Test]
    public async Task Interrupted_up_leaves_no_process_and_its_jobs_each_run_to_the_end_once_after_a_restart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"up-{Guid.NewGuid():N}"[..12]);
        Directory.CreateDirectory(dir);
        var ledger = new AgentLedger(dir);
        try
        {
            var jobs = new List<string>();
            await using (var up = StartUp(dir, "up-1"))
            {
                var master = await MasterUrlAsync(dir, up);
                for (var i = 0; i < 6; i++)
                {
                    var (code, output, error) = await Schedctl.RunAsync(master, null, [.. Schedctl.LocalTls(dir), "submit", "-o", "json", "--", "/bin/sh", "-c", ledger.Script("sleep 3")]);
                    Assert.That(code, Is.Zero, error);
                    jobs.Add(System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("id").GetString()!);
                }

                await Eventually.TrueAsync(() => jobs.Count(j => ledger.Pids(j, 1).Count == 3) >= 4, "agents to be running", TimeSpan.FromSeconds(60));

                TestPosix.Interrupt(up.Pid);
                await Eventually.TrueAsync(() => up.HasExited, "schedctl up to stop its cluster and exit", TimeSpan.FromSeconds(90), () => LocalProcesses.Diagnose(dir));
                Assert.That(up.ExitCode, Is.Zero, up.ReadLog());
            }

            Assert.That(LocalProcesses.Mentioning(dir), Is.Empty, "master, workers, keepers and every agent process are gone");

            // The stopped master's address must not be mistaken for the new one's.
            File.Delete(Path.Combine(dir, "master", "master.addr"));
            await using (var again = StartUp(dir, "up-2"))
            {
                var master = await MasterUrlAsync(dir, again);
                foreach (var job in jobs)
                {
                    await Eventually.TrueAsync(
                        async () => (await Schedctl.RunAsync(master, null, [.. Schedctl.LocalTls(dir), "jobs", "get", job, "-o", "json"])).Out.Contains("SUCCEEDED", StringComparison.Ordinal),
                        $"{job} to succeed after the restart",
                        TimeSpan.FromSeconds(90));
                }

                TestPosix.Interrupt(again.Pid);
                await Eventually.TrueAsync(() => again.HasExited, "the second up to exit", TimeSpan.FromSeconds(90));
            }

            Assert.That(ledger.Ends(), Has.Count.EqualTo(jobs.Count));
            Assert.That(ledger.Ends().Values, Is.All.EqualTo(1), "each job ran to its end exactly once");
            Assert.That(ledger.Overlaps(), Is.Empty);
            Assert.That(LocalProcesses.Mentioning(dir), Is.Empty);
        }
        finally
        {
            foreach (var pid in LocalProcesses.Mentioning(dir))
            {
                TestPosix.Signal(pid, TestPosix.SigKill);
            }
        }
    }

    // The ledger agents write to the test's folder as the test's user: its workers run agents as themselves.
    private static ManagedProcess StartUp(string dir, string name) =>
        ManagedProcess.StartDotnet(name, Artifacts.SchedctlDll, ["up", "--dir", dir, "--port", "0", "--workers", "2"], Path.Combine(dir, $"{name}.log"),
            new Dictionary<string, string> { ["SCHEDULER_Worker__AgentUser"] = "off" });

    private static async Task<string> MasterUrlAsync(string dir, ManagedProcess up)
    {
        var file = Path.Combine(dir, "master", "master.addr");
        return await Eventually.ReturnsAsync(
            () =>
            {
                if (up.HasExited)
                {
                    throw new AssertionException($"schedctl up exited with {up.ExitCode}:\n{up.ReadLog()}");
                }

                return Task.FromResult(File.Exists(file) ? File.ReadAllText(file).Trim() : null);
            },
            "the local master to start",
            TimeSpan.FromSeconds(60));
    }
}
