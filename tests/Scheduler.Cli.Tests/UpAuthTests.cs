using Scheduler.Tests.Common;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Cli.Tests;

/// <summary>`schedctl up --auth`: a cluster that refuses anonymous calls, administered with its bootstrap token and `schedctl tokens`.</summary>
[TestFixture]
[CancelAfter(240_000)]
public sealed class UpAuthTests
{
    [Test]
    public async Task Up_with_auth_refuses_strangers_and_schedctl_manages_tokens_with_the_folders_admin_token()
    {
        // The cluster lives in the default folder under a working directory, so schedctl finds its token by itself.
        var work = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"upauth-{Guid.NewGuid():N}"[..16]);
        var dir = Path.Combine(work, ".scheduler", "local");
        Directory.CreateDirectory(dir);
        try
        {
            await using var up = ManagedProcess.StartDotnet("up", Artifacts.SchedctlDll, ["up", "--auth", "--dir", dir, "--port", "0", "--workers", "1"], Path.Combine(work, "up.log"));
            var master = await Eventually.ReturnsAsync(
                () => Task.FromResult(up.HasExited
                    ? throw new AssertionException($"schedctl up exited:\n{up.ReadLog()}")
                    : File.Exists(Path.Combine(dir, "master", "master.addr")) ? File.ReadAllText(Path.Combine(dir, "master", "master.addr")).Trim() : null),
                "the master's address");

            var stranger = await Schedctl.RunInAsync(Path.GetTempPath(), null, master, null, "nodes");
            Assert.That(stranger.ExitCode, Is.EqualTo(2));
            Assert.That(stranger.Err, Does.Contain("Unauthenticated"));

            // The worker registered with the worker token `up` made for it; schedctl sends the folder's admin token.
            await Eventually.TrueAsync(
                async () => (await Schedctl.RunInAsync(work, null, master, null, "nodes")).Out.Contains("worker-a", StringComparison.Ordinal),
                "worker-a to register with its worker token");

            var created = await Schedctl.RunInAsync(work, null, master, null, "tokens", "create", "--role", "submitter", "--tenant", "team-a", "--name", "ci");
            Assert.That(created.ExitCode, Is.Zero, created.Err);
            var secret = created.Out.Trim().Split('\n')[^1].Trim();
            var id = secret[..secret.IndexOf('.', StringComparison.Ordinal)];

            var listed = await Schedctl.RunInAsync(work, null, master, null, "tokens", "list");
            Assert.That(listed.Out, Does.Contain(id).And.Contain("team-a").And.Not.Contain(secret[(id.Length + 1)..]));

            var submitted = await Schedctl.RunInAsync(Path.GetTempPath(), null, master, null, "--token", secret, "submit", "-o", "json", "--", "/bin/true");
            Assert.That(submitted.ExitCode, Is.Zero, submitted.Err);
            Assert.That(submitted.Out, Does.Contain("team-a"));

            var revoked = await Schedctl.RunInAsync(work, null, master, null, "tokens", "revoke", id);
            Assert.That(revoked.ExitCode, Is.Zero, revoked.Err);
            var refused = await Schedctl.RunInAsync(Path.GetTempPath(), null, master, null, "--token", secret, "jobs");
            Assert.That(refused.ExitCode, Is.EqualTo(2));
            Assert.That(refused.Err, Does.Contain("Unauthenticated").And.Contain("revoked"));

            TestPosix.Interrupt(up.Pid);
            await Eventually.TrueAsync(() => up.HasExited, "schedctl up to stop its cluster and exit", TimeSpan.FromSeconds(90));
        }
        finally
        {
            foreach (var pid in LocalProcesses.Mentioning(dir))
            {
                TestPosix.Signal(pid, TestPosix.SigKill);
            }
        }
    }
}
