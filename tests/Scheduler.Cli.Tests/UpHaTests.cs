using System.Text.Json;
using System.Text.RegularExpressions;
using Scheduler.Tests.Common;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Cli.Tests;

/// <summary>
/// `schedctl up --ha` as a script drives it: cluster.json names every process by role, id, address and PID,
/// `schedctl leader -o json` names the leader as cluster.json does, and Ctrl+C stops every one of them.
/// </summary>
[TestFixture]
[CancelAfter(300_000)]
public sealed partial class UpHaTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    [Test]
    public async Task Up_ha_lists_three_etcd_members_three_masters_and_two_live_workers_and_stops_them_all_on_interrupt()
    {
        RequireEtcd.OrIgnore();
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"up-ha-{Guid.NewGuid():N}"[..15]);
        Directory.CreateDirectory(dir);
        var pids = new List<int>();
        try
        {
            await using var up = ManagedProcess.StartDotnet("up-ha", Artifacts.SchedctlDll, ["up", "--ha", "--dir", dir], Path.Combine(dir, "up.log"));
            var manifest = Path.Combine(dir, "cluster.json");
            var processes = await Eventually.ReturnsAsync(
                () =>
                {
                    if (up.HasExited)
                    {
                        throw new AssertionException($"schedctl up --ha exited with {up.ExitCode}:\n{up.ReadLog()}");
                    }

                    return Task.FromResult(File.Exists(manifest) ? Read(File.ReadAllText(manifest)) : null);
                },
                "cluster.json",
                StartTimeout);
            pids.AddRange(processes.Select(p => p.Pid));

            Assert.Multiple(() =>
            {
                Assert.That(processes.Where(p => p.Role == "etcd").Select(p => p.Id), Is.EquivalentTo(new[] { "etcd-1", "etcd-2", "etcd-3" }));
                Assert.That(processes.Where(p => p.Role == "master").Select(p => p.Id), Is.EquivalentTo(new[] { "master-1", "master-2", "master-3" }));
                Assert.That(processes.Count(p => p.Role == "worker"), Is.EqualTo(2));
                Assert.That(processes, Has.Length.EqualTo(8), "nothing but etcd, master and worker processes");
                Assert.That(processes.Where(p => p.Role != "worker").Select(p => p.Address), Is.All.Match(LoopbackUrl().ToString()));
                Assert.That(processes.Select(p => p.Address).Where(a => a.Length > 0), Is.Unique);
                Assert.That(processes.Where(p => p.Role == "master").Select(p => p.Address), Is.All.StartWith("https://"), "masters speak TLS by default");
                Assert.That(processes.Select(p => p.Pid), Is.Unique);
                Assert.That(processes.Where(p => !TestPosix.IsAlive(p.Pid)), Is.Empty, "every listed PID is alive");
            });
            await Eventually.TrueAsync(() => up.ReadLog().Contains(manifest, StringComparison.Ordinal), "up --ha to print the path of cluster.json", StartTimeout);

            // Every master, standbys included, names the same leader, by the id and address cluster.json gives it.
            var masters = processes.Where(p => p.Role == "master").ToArray();
            var answers = new List<(string Id, string Address)>();
            foreach (var master in masters)
            {
                answers.Add(await LeaderAsync(master.Address, dir));
            }

            Assert.That(answers.Distinct().Count(), Is.EqualTo(1), string.Join("; ", answers));
            Assert.That(masters.Select(m => (m.Id, m.Address)), Does.Contain(answers[0]), "the leader as cluster.json lists it");

            TestPosix.Interrupt(up.Pid);
            await Eventually.TrueAsync(() => up.HasExited, "schedctl up --ha to stop its cluster and exit", TimeSpan.FromSeconds(120), () => LocalProcesses.Diagnose(dir));
            Assert.That(up.ExitCode, Is.Zero, up.ReadLog());
            Assert.That(pids.Where(TestPosix.IsAlive), Is.Empty, "every process cluster.json listed is stopped");
            Assert.That(LocalProcesses.Mentioning(dir), Is.Empty, "etcd, masters, workers and keepers are gone");
        }
        finally
        {
            LocalProcesses.KillAll(dir, pids);
        }
    }

    /// <summary>One master's answer to `schedctl leader -o json`, once it knows a leader (a standby may not for a moment).</summary>
    private static async Task<(string Id, string Address)> LeaderAsync(string master, string dir)
    {
        var answer = await Eventually.ReturnsAsync(
            async () =>
            {
                var (code, output, _) = await Schedctl.RunAsync(master, TimeSpan.FromSeconds(30), [.. Schedctl.LocalTls(dir), "leader", "-o", "json"]);
                if (code != 0)
                {
                    return null;
                }

                var root = JsonDocument.Parse(output).RootElement;
                var id = root.GetProperty("masterId").GetString();
                var address = root.GetProperty("address").GetString();
                return string.IsNullOrEmpty(id) || string.IsNullOrEmpty(address) ? null : Tuple.Create(id, address);
            },
            $"{master} to name the leader",
            StartTimeout);
        return (answer.Item1, answer.Item2);
    }

    private static (string Role, string Id, string Address, int Pid)[]? Read(string json)
    {
        try
        {
            return JsonDocument.Parse(json).RootElement.GetProperty("processes").EnumerateArray()
                .Select(p => (p.GetProperty("role").GetString()!, p.GetProperty("id").GetString()!, p.GetProperty("address").GetString()!, p.GetProperty("pid").GetInt32()))
                .ToArray();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^https?://127\.0\.0\.1:\d+$")]
    private static partial Regex LoopbackUrl();
}
