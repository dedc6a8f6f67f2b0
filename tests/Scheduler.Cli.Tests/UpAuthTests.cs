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
        // The cluster lives in the default folder under a working directory, so schedctl run there finds its CA,
        // client certificate and admin token by itself. Elsewhere, schedctl is pointed at the cluster's CA (and
        // client certificate) with --ca/--cert/--key: TLS is on, so only the token decides what it may do.
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

            var tls = Schedctl.LocalTls(dir);
            var stranger = await Schedctl.RunInFolderAsync(Path.GetTempPath(), master, [.. tls, "nodes"]);
            Assert.That(stranger.ExitCode, Is.EqualTo(2), stranger.Err);
            Assert.That(stranger.Err, Does.Contain("Unauthenticated"));

            // The worker registered (by its node certificate; `up` also hands it a worker token); schedctl sends the folder's admin token.
            await Eventually.TrueAsync(
                async () => (await Schedctl.RunInFolderAsync(work, master, "nodes")).Out.Contains("worker-a", StringComparison.Ordinal),
                "worker-a to register");

            var created = await Schedctl.RunInFolderAsync(work, master, "tokens", "create", "--role", "submitter", "--tenant", "team-a", "--name", "ci");
            Assert.That(created.ExitCode, Is.Zero, created.Err);
            var secret = created.Out.Trim().Split('\n')[^1].Trim();
            var id = secret[..secret.IndexOf('.', StringComparison.Ordinal)];

            var listed = await Schedctl.RunInFolderAsync(work, master, "tokens", "list");
            Assert.That(listed.Out, Does.Contain(id).And.Contain("team-a").And.Not.Contain(secret[(id.Length + 1)..]));

            var submitted = await Schedctl.RunInFolderAsync(Path.GetTempPath(), master, [.. tls, "--token", secret, "submit", "-o", "json", "--", "/bin/true"]);
            Assert.That(submitted.ExitCode, Is.Zero, submitted.Err);
            Assert.That(submitted.Out, Does.Contain("team-a"));

            var revoked = await Schedctl.RunInFolderAsync(work, master, "tokens", "revoke", id);
            Assert.That(revoked.ExitCode, Is.Zero, revoked.Err);
            var refused = await Schedctl.RunInFolderAsync(Path.GetTempPath(), master, [.. tls, "--token", secret, "jobs"]);
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
