using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Nothing lost, nothing run twice, judged from the agents' own ledger and /proc: graceful worker
/// stops under load, killed and frozen workers with agents that fork (one child in the agent's
/// session, one that leaves it), a partitioned worker, and a master down longer than the fencing window.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class NoRunTwiceTests : PerTestCluster
{
    [Test]
    public async Task Graceful_worker_stop_under_load_hands_every_job_back_and_each_runs_to_the_end_once()
    {
        var (cluster, api) = await StartAsync("graceful");
        var ledger = new AgentLedger(cluster.Root);
        var w1 = cluster.StartWorker("w1", cpuMillis: 4000);
        cluster.StartWorker("w2", cpuMillis: 4000);
        await api.WaitForReadyNodesAsync("w1", "w2");
        var jobs = new List<Job>();
        for (var i = 0; i < 40; i++)
        {
            jobs.Add(await api.SubmitAsync(ClusterApi.Shell(ledger.Script("sleep 1.5"), cpuMillis: 500)));
        }

        await Eventually.TrueAsync(
            async () => (await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline())).Jobs.Count(j => j.State == JobState.Running && j.NodeId == "w1") >= 4,
            "w1 to be running several jobs");

        await w1.StopAsync(TimeSpan.FromSeconds(30));

        Assert.That(w1.ExitCode, Is.Zero, "a graceful stop exits 0");
        await Eventually.TrueAsync(
            async () => (await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline())).Health == NodeHealth.Dead,
            "w1 to have left: its stream closed with nothing held");
        foreach (var job in jobs)
        {
            var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(120));
            Assert.That(done.Requeues, Is.Zero, $"{job.Id}: a host stop uses no retry");
        }

        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1), "every job ran to its end exactly once");
        Assert.That(ledger.Ends(), Has.Count.EqualTo(jobs.Count));
        Assert.That(ledger.Overlaps(), Is.Empty);
        await Eventually.TrueAsync(() => ledger.Survivors().Count == 0, "no process of any attempt to be left");
    }

    [Test]
    public async Task Killed_worker_leaves_no_process_of_a_forking_agent_running_when_the_job_runs_again()
    {
        var (_, api, ledger, w1, jobs, release) = await StartBlockedJobsOnW1Async("kill-fork");

        await w1.KillAsync();

        foreach (var job in jobs)
        {
            await api.WaitForJobAsync(job.Id, j => j.Attempt == 2 && j.State == JobState.Running, "the job to run again on w2", TimeSpan.FromSeconds(60));
            await Eventually.TrueAsync(() => ledger.Pids(job.Id, 2).Count == 3, "attempt 2 to start");
            Assert.That(ledger.Pids(job.Id, 1).Where(Posix.IsAlive), Is.Empty, $"{job.Id}: no process of the killed worker's attempt survives");
        }

        await File.WriteAllTextAsync(release, "go");
        foreach (var job in jobs)
        {
            await api.WaitForStateAsync(job.Id, JobState.Succeeded);
        }

        Assert.That(ledger.Overlaps(), Is.Empty, "no attempt started while an earlier one still ran");
        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1));
    }

    [Test]
    public async Task Frozen_worker_has_its_agents_killed_before_the_master_runs_them_elsewhere()
    {
        var (_, api, ledger, w1, jobs, release) = await StartBlockedJobsOnW1Async("freeze");

        Posix.Signal(w1.Pid, Posix.SigStop);
        try
        {
            foreach (var job in jobs)
            {
                await api.WaitForJobAsync(job.Id, j => j.Attempt == 2 && j.State == JobState.Running, "the job to run again on w2", TimeSpan.FromSeconds(60));
                await Eventually.TrueAsync(() => ledger.Pids(job.Id, 2).Count == 3, "attempt 2 to start");
            }

            Assert.That(ledger.Overlaps(), Is.Empty, "every process of the frozen worker's attempts died before the job started again");
            foreach (var job in jobs)
            {
                Assert.That(ledger.Pids(job.Id, 1).Where(Posix.IsAlive), Is.Empty);
            }
        }
        finally
        {
            Posix.Signal(w1.Pid, Posix.SigCont);
        }

        await File.WriteAllTextAsync(release, "go");
        foreach (var job in jobs)
        {
            var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded);
            Assert.That(done.Attempt, Is.EqualTo(2), "the thawed worker's report does not change the outcome");
        }

        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1));
    }

    [Test]
    public async Task Partitioned_worker_kills_its_agents_before_the_master_runs_them_elsewhere()
    {
        var (cluster, api) = await StartAsync("partition");
        var ledger = new AgentLedger(cluster.Root);
        await using var link = new TcpBlackhole(new Uri(cluster.MasterUrl));
        var w1 = cluster.StartWorker("w1", extraArgs: ["--master", link.Url]);
        await api.WaitForReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var job = await api.SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.1; done")));
        await api.WaitForStateAsync(job.Id, JobState.Running);
        await Eventually.TrueAsync(() => ledger.Pids(job.Id, 1).Count == 3, "the agent and both its children to start");
        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w2");

        link.Cut();

        await api.WaitForJobAsync(job.Id, j => j.Attempt == 2 && j.State == JobState.Running, "the job to run again on w2", TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => ledger.Pids(job.Id, 2).Count == 3, "attempt 2 to start");
        Assert.That(ledger.Overlaps(), Is.Empty, "the cut-off worker killed its agent tree before the master's dead-after passed");
        Assert.That(w1.HasExited, Is.False, "the worker itself keeps running and keeps trying to reconnect");
        Assert.That(w1.ReadLog(), Does.Contain("Fencing").Or.Contain("keeper: killed agent"), "the worker or its keeper fenced");
        await File.WriteAllTextAsync(release, "go");
        await api.WaitForStateAsync(job.Id, JobState.Succeeded);
    }

    [Test]
    public async Task Master_down_longer_than_the_fencing_window_on_default_settings_reruns_nothing()
    {
        // Default timings: heartbeat 1 s, dead-after 10 s, so workers fence after 9 s without contact.
        var (cluster, api) = await StartAsync("long-restart", new ClusterTimings(1000, 10_000));
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var running = await api.SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.1; done")));
        await api.WaitForStateAsync(running.Id, JobState.Running);
        await Eventually.TrueAsync(() => ledger.Pids(running.Id, 1).Count == 3, "the agent and both its children to start");

        await cluster.Master!.KillAsync();

        // The outage is the fault under test, not a wait for something: 12 s is past the 9 s window.
        await Task.Delay(TimeSpan.FromSeconds(12));
        Assert.That(ledger.Pids(running.Id, 1).All(Posix.IsAlive), Is.True, "no master is running, so nobody can requeue: the agent keeps running");
        await cluster.StartMasterAsync();
        await api.WaitForReadyNodesAsync("w1");
        await File.WriteAllTextAsync(release, "go");

        var done = await api.WaitForStateAsync(running.Id, JobState.Succeeded);
        Assert.That(done.Attempt, Is.EqualTo(1));
        Assert.That(done.Requeues, Is.Zero);
        Assert.That(ledger.Ends()[running.Id], Is.EqualTo(1));
    }

    [Test]
    public async Task Exit_reported_after_the_master_gave_up_on_the_node_counts_and_the_job_does_not_run_again()
    {
        var (cluster, api) = await StartAsync("late-exit");
        var ledger = new AgentLedger(cluster.Root);
        await using var link = new TcpBlackhole(new Uri(cluster.MasterUrl));
        cluster.StartWorker("w1", extraArgs: ["--master", link.Url]);
        await api.WaitForReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var job = await api.SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.05; done")));
        await api.WaitForStateAsync(job.Id, JobState.Running);

        // The agent finishes just as the link breaks; the master hears nothing and gives the node up.
        link.Cut();
        await File.WriteAllTextAsync(release, "go");
        await Eventually.TrueAsync(() => ledger.Ends().ContainsKey(job.Id), "the agent to finish");
        await api.WaitForJobAsync(job.Id, j => j.State == JobState.Pending, "the master to requeue the job of the silent node", TimeSpan.FromSeconds(30));
        link.Heal();

        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        Assert.That(done.Attempt, Is.EqualTo(1), "the worker's late report of exit 0 is the job's outcome");
        Assert.That(ledger.Ends()[job.Id], Is.EqualTo(1));
    }

    /// <summary>
    /// Three forking agents on w1 that block until the release file appears, each with both children
    /// started, and an idle w2 ready to take them over.
    /// </summary>
    private async Task<(TestCluster Cluster, ClusterApi Api, AgentLedger Ledger, ManagedProcess W1, List<Job> Jobs, string Release)> StartBlockedJobsOnW1Async(string name)
    {
        var (cluster, api) = await StartAsync(name);
        var ledger = new AgentLedger(cluster.Root);
        var w1 = cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var jobs = new List<Job>();
        for (var i = 0; i < 3; i++)
        {
            jobs.Add(await api.SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.1; done"))));
        }

        foreach (var job in jobs)
        {
            await api.WaitForStateAsync(job.Id, JobState.Running);
            await Eventually.TrueAsync(() => ledger.Pids(job.Id, 1).Count == 3, "the agent and both its children to start");
        }

        cluster.StartWorker("w2");
        await api.WaitForReadyNodesAsync("w2");
        return (cluster, api, ledger, w1, jobs, release);
    }
}
