using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Who a real worker's agents run as: unprivileged when the worker runs as root, unless told otherwise.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class AgentUserTests
{
    [Test]
    public async Task A_worker_run_as_root_runs_agents_as_an_unprivileged_user_by_default()
    {
        await using var cluster = await TestCluster.StartAsync("agent-user");
        using var api = new ClusterApi(cluster.MasterUrl);
        cluster.StartWorker("w-auto", extraArgs: ["--agent-user", "auto"]);
        await api.WaitForReadyNodesAsync("w-auto");

        var job = await api.SubmitAsync(ClusterApi.Shell("id -u; stat -c %a \"$SCHEDULER_AGENT_DIR\""));
        var done = await api.WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished", TimeSpan.FromSeconds(60));
        var output = (await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline())).Data.ToStringUtf8().Split('\n');

        long testUid = Scheduler.Tests.Common.Posix.EffectiveUserId();
        Assert.That(done.State, Is.EqualTo(JobState.Succeeded), done.Message);
        if (testUid == 0)
        {
            Assert.That(long.Parse(output[0], System.Globalization.CultureInfo.InvariantCulture), Is.InRange(2_000_000, 2_065_535), "as root: an id of its own from the default range");
        }
        else
        {
            Assert.That(output[0], Is.EqualTo(testUid.ToString(System.Globalization.CultureInfo.InvariantCulture)), "not root: the worker's own user");
        }

        Assert.That(output[1], Is.EqualTo("700"), "the agent's folder is private to it");
    }

    [Test]
    public async Task As_root_two_agents_of_one_worker_run_as_different_ids_and_cannot_read_each_other_s_scratch()
    {
        if (Scheduler.Tests.Common.Posix.EffectiveUserId() != 0)
        {
            Assert.Ignore("agents get ids of their own only when the worker runs as root (the tests run as uid " + Scheduler.Tests.Common.Posix.EffectiveUserId() + ")");
        }

        await using var cluster = await TestCluster.StartAsync("agent-uids");
        using var api = new ClusterApi(cluster.MasterUrl);
        cluster.StartWorker("w-uids", extraArgs: ["--agent-user", "auto", "--agent-uid-range", "3100000-3100009"]);
        await api.WaitForReadyNodesAsync("w-uids");

        var a = await api.SubmitAsync(ClusterApi.Shell("id -u; echo \"$SCHEDULER_AGENT_DIR\"; echo only-a >\"$SCHEDULER_AGENT_DIR/work/secret\" && echo ready; exec sleep 600"));
        var aLines = await Eventually.ReturnsAsync(
            async () =>
            {
                var lines = (await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = a.Id }, deadline: ClusterApi.Deadline())).Data.ToStringUtf8().Split('\n');
                return lines.Length >= 3 && lines[2] == "ready" ? lines : null;
            },
            "agent A to write its secret");
        var secret = Path.Combine(aLines[1], "work", "secret");

        var b = await api.SubmitAsync(ClusterApi.Shell($"id -u; if cat '{secret}' 2>&1; then echo read-it; else echo refused; fi"));
        var done = await api.WaitForJobAsync(b.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished", TimeSpan.FromSeconds(60));
        var bLines = (await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = b.Id }, deadline: ClusterApi.Deadline())).Data.ToStringUtf8().Split('\n');
        await api.Jobs.CancelAsync(new CancelJobRequest { Id = a.Id }, deadline: ClusterApi.Deadline());

        Assert.Multiple(() =>
        {
            Assert.That(done.State, Is.EqualTo(JobState.Succeeded), done.Message);
            Assert.That(long.Parse(aLines[0], System.Globalization.CultureInfo.InvariantCulture), Is.InRange(3_100_000, 3_100_009), "A's id comes from the range");
            Assert.That(long.Parse(bLines[0], System.Globalization.CultureInfo.InvariantCulture), Is.InRange(3_100_000, 3_100_009), "B's id comes from the range");
            Assert.That(bLines[0], Is.Not.EqualTo(aLines[0]), "two live agents never share an id");
            Assert.That(bLines, Does.Not.Contain("only-a").And.Not.Contain("read-it"), "B read A's scratch");
            Assert.That(bLines[1], Does.Contain("Permission denied"));
            Assert.That(bLines, Does.Contain("refused"));
        });
    }

    [Test]
    public async Task As_root_a_restarted_worker_takes_back_what_earlier_agents_left_before_an_id_is_handed_out_again()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("agent ids are a Linux feature");
            return;
        }

        if (Scheduler.Tests.Common.Posix.EffectiveUserId() != 0)
        {
            Assert.Ignore("agents get ids of their own only when the worker runs as root (the tests run as uid " + Scheduler.Tests.Common.Posix.EffectiveUserId() + ")");
        }

        // What an agent of an earlier run left and its worker never handed back (the agent ended while
        // the worker was down): a work folder and a checkpoint still owned by the range's first id.
        await using var cluster = await TestCluster.StartAsync("agent-uids-restart");
        using var api = new ClusterApi(cluster.MasterUrl);
        const uint earlier = 3_100_020;
        var work = Path.Combine(cluster.Root, "w-re", "agents", "j-000099", "1", "work");
        var checkpoint = Path.Combine(cluster.Root, "w-re", "checkpoints", "j-000099", "1");
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(checkpoint);
        var secret = Path.Combine(work, "secret");
        File.WriteAllText(secret, "earlier agent's");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        foreach (var path in new[] { Path.Combine(cluster.Root, "w-re", "agents", "j-000099", "1"), work, secret, checkpoint })
        {
            using var chown = System.Diagnostics.Process.Start("chown", [$"{earlier}:{earlier}", path])!;
            chown.WaitForExit();
            Assert.That(chown.ExitCode, Is.Zero, $"chown {path}");
        }

        cluster.StartWorker("w-re", extraArgs: ["--agent-user", "auto", "--agent-uid-range", "3100020-3100020"]);
        await api.WaitForReadyNodesAsync("w-re");
        var job = await api.SubmitAsync(ClusterApi.Shell($"id -u; if cat '{secret}' 2>&1; then echo read-it; else echo refused; fi"));
        var done = await api.WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished", TimeSpan.FromSeconds(60));
        var lines = (await api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline())).Data.ToStringUtf8().Split('\n');

        Assert.Multiple(() =>
        {
            Assert.That(done.State, Is.EqualTo(JobState.Succeeded), done.Message);
            Assert.That(lines[0], Is.EqualTo(earlier.ToString(System.Globalization.CultureInfo.InvariantCulture)), "the new agent got the earlier agent's id (the range holds one)");
            Assert.That(lines, Does.Not.Contain("earlier agent's").And.Not.Contain("read-it"), "the new agent read what the earlier one left");
            Assert.That(lines, Does.Contain("refused"));
            Assert.That(Owner(secret), Is.Zero, "the worker took the earlier agent's files back at start");
            Assert.That(Owner(checkpoint), Is.Zero);
        });
    }

    private static uint Owner(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var uid = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return uint.Parse(uid, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task A_worker_told_to_run_agents_as_a_user_this_host_lacks_refuses_to_start()
    {
        await using var cluster = await TestCluster.StartAsync("agent-user-bad");
        var worker = cluster.StartWorker("w-bad", extraArgs: ["--agent-user", "no-such-user-here"]);

        await Eventually.TrueAsync(() => Task.FromResult(worker.HasExited), "the worker to refuse to start");
        Assert.That(worker.ExitCode, Is.EqualTo(2));
        Assert.That(worker.ReadLog(), Does.Contain("error: --agent-user no-such-user-here: no such user"));
    }
}
