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
        var expected = testUid == 0 ? UidOf("scheduler-agent") ?? UidOf("nobody") : testUid;
        Assert.That(done.State, Is.EqualTo(JobState.Succeeded), done.Message);
        Assert.That(output[0], Is.EqualTo(expected?.ToString(System.Globalization.CultureInfo.InvariantCulture)), testUid == 0 ? "as root: the dedicated user or nobody" : "not root: the worker's own user");
        Assert.That(output[1], Is.EqualTo("700"), "the agent's folder is private to it");
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

    private static long? UidOf(string name)
    {
        var line = File.ReadLines("/etc/passwd").FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line.Split(':')[2], System.Globalization.CultureInfo.InvariantCulture);
    }
}
