using System.Collections.Concurrent;
using System.Text.Json;
using Grpc.Core;
using Grpc.Health.V1;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Three masters on real etcd, as operators run them: the leader killed or frozen, a standby asked
/// directly, an etcd member lost, all of etcd lost for a while, and the start-up check of the
/// failover budget. Judged from outside: the agents' ledger, each master's own answers, the CLI.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class HighAvailabilityTests
{
    private HaCluster? _cluster;
    private HaClusterApi? _api;

    [TearDown]
    public async Task StopCluster()
    {
        _api?.Dispose();
        _api = null;
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            _cluster = null;
        }
    }

    [Test]
    public async Task Leader_killed_during_a_stream_of_submissions_loses_no_acknowledged_job_and_runs_none_twice()
    {
        var (cluster, api) = await StartAsync("kill-stream");
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        cluster.StartWorker("w2");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1", "w2");
        var before = await api.GetLeaderAsync(leader);
        await using var client = api.NewClient();
        const int Total = 48;
        var acknowledged = new ConcurrentDictionary<string, Job>();
        var refused = new ConcurrentQueue<string>();

        var submitting = SubmitStreamAsync();
        await Eventually.TrueAsync(
            () => acknowledged.Count >= 12 && ledger.Starts().Count >= 3,
            "a dozen submits acknowledged and several agents running");
        await cluster.MasterById(leader.Id).Process!.KillAsync();
        var acknowledgedAtKill = acknowledged.Count;
        await submitting;

        Assert.That(acknowledgedAtKill, Is.LessThan(Total - 10), "the stream went on well past the kill");

        Assert.That(refused, Is.Empty, "the client follows the new leader: no submit of the stream fails");
        var standbys = cluster.Masters.Where(m => m.Id != leader.Id).ToList();
        var successor = await api.WaitForLeaderAsync(standbys);
        var after = await api.GetLeaderAsync(successor);
        Assert.That(after.IsLeader, Is.True);
        Assert.That(after.MasterId, Is.Not.EqualTo(before.MasterId));
        Assert.That(after.Epoch, Is.GreaterThan(before.Epoch), "a new term has a higher epoch");
        foreach (var standby in standbys.Where(m => m != successor))
        {
            var named = await api.GetLeaderAsync(standby);
            Assert.That((named.IsLeader, named.MasterId, named.Epoch), Is.EqualTo((false, successor.Id, after.Epoch)), $"standby {standby.Id} names the new leader");
        }

        Assert.That(successor.ReadLog(), Does.Contain($"Master {successor.Id} leads"));
        foreach (var (requestId, job) in acknowledged)
        {
            var done = await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded);

            // A placement persisted by the killed leader but never received by the worker is requeued
            // by the successor (attempt 2, legitimately); an agent that did start is never restarted.
            if (ledger.Pids(job.Id, 1).Count > 0)
            {
                Assert.That((done.Attempt, done.Requeues), Is.EqualTo((1, 0)), $"{job.Id} ({requestId}): it started and its worker stayed up, so it ran once");
            }
        }

        var listed = await client.ListJobsAsync(null, 0, CancellationToken.None);
        Assert.That(listed.Select(j => j.RequestId), Is.EquivalentTo(acknowledged.Keys), "one job per request id: retried submits made no duplicates");
        Assert.That(ledger.Overlaps(), Is.Empty, "no two processes of one job at once");
        Assert.That(ledger.Starts().Values, Is.All.EqualTo(1), "every job started once");
        Assert.That(ledger.Ends(), Has.Count.EqualTo(Total));
        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1));

        async Task SubmitStreamAsync()
        {
            for (var i = 0; i < Total; i++)
            {
                var requestId = $"stream-{i:D2}";
                try
                {
                    var response = await client.SubmitAsync(ClusterApi.Shell(ledger.Script("sleep 1.5"), cpuMillis: 500), requestId, CancellationToken.None);
                    acknowledged[requestId] = response.Job;
                }
                catch (Exception ex) when (ex is RpcException or MasterUnreachableException)
                {
                    refused.Enqueue($"{requestId}: {ex.Message}");
                }

                // Pacing, not synchronisation: the stream must straddle the kill.
                await Task.Delay(80);
            }
        }
    }

    [Test]
    public async Task Leader_frozen_past_its_lease_is_replaced_and_after_thawing_neither_dispatches_nor_leads()
    {
        // Dispatches are logged at debug level: counted below.
        var (cluster, api) = await StartAsync("freeze-leader", extraMasterArgs: ["--Logging:LogLevel:Scheduler.Master.Scheduling.WorkerCommands=Debug"]);
        var ledger = new AgentLedger(cluster.Root);
        var w1 = cluster.StartWorker("w1", cpuMillis: 1000);
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1");
        var oldEpoch = (await api.GetLeaderAsync(leader)).Epoch;
        var release = Path.Combine(cluster.Root, "release");

        // w1 fits two jobs: two block on the release file, two more wait for their room.
        var blocked = new List<Job>();
        for (var i = 0; i < 2; i++)
        {
            blocked.Add(await api[leader].SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.1; done"), cpuMillis: 500)));
        }

        var waiting = new List<Job>();
        for (var i = 0; i < 2; i++)
        {
            waiting.Add(await api[leader].SubmitAsync(ClusterApi.Shell(ledger.Script("sleep 0.3"), cpuMillis: 500)));
        }

        foreach (var job in blocked)
        {
            await Eventually.TrueAsync(() => ledger.Pids(job.Id, 1).Count == 3, $"{job.Id} to run with both children");
        }

        Assert.That((await api[leader].Jobs.GetAsync(new GetJobRequest { Id = waiting[0].Id }, deadline: ClusterApi.Deadline())).State, Is.EqualTo(JobState.Pending));
        var logBeforeFreeze = leader.ReadLog().Length;
        var workerLogBeforeFreeze = w1.ReadLog().Length;

        // Frozen with work queued: the blocked jobs end at once, so the frozen leader has their exits
        // in its socket and pending jobs it would place the moment it runs again.
        Posix.Signal(leader.Pid, Posix.SigStop);
        HaMaster successor;
        Job submittedMeanwhile;
        try
        {
            await File.WriteAllTextAsync(release, "go");
            successor = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m != leader));
            Assert.That((await api.GetLeaderAsync(successor)).Epoch, Is.GreaterThan(oldEpoch));
            submittedMeanwhile = await api[successor].SubmitAsync(ClusterApi.Shell(ledger.Script("sleep 0.3"), cpuMillis: 500));
            foreach (var job in blocked.Concat(waiting).Append(submittedMeanwhile))
            {
                await api[successor].WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
            }
        }
        finally
        {
            Posix.Signal(leader.Pid, Posix.SigCont);
        }

        await Eventually.TrueAsync(
            async () => await api.GetLeaderAsync(leader) is { IsLeader: false } info && info.MasterId == successor.Id && info.Address == successor.Url,
            $"the thawed {leader.Id} to step down and name {successor.Id}");
        Assert.That(await api.HealthAsync(leader), Is.EqualTo(ServingStatus.NotServing));
        await RpcAssert.FailsWith(StatusCode.FailedPrecondition, () => api[leader].SubmitAsync(ClusterApi.Shell("exit 0")));
        var thawedLog = leader.ReadLog()[logBeforeFreeze..];
        Assert.That(thawedLog, Does.Contain($"Master {leader.Id} no longer leads (epoch {oldEpoch})"));
        var dispatched = CountOf(thawedLog, "dispatched to");
        Assert.That(dispatched, Is.LessThanOrEqualTo(CountOf(thawedLog, "Withheld a Start command")), $"every start the thawed leader decided was withheld:\n{thawedLog}");
        Assert.That(w1.ReadLog()[workerLogBeforeFreeze..], Does.Not.Contain($"from epoch {oldEpoch}:"), "the worker received no command of the old term after the freeze");
        TestContext.Out.WriteLine($"thawed leader decided {dispatched} starts, all withheld");

        // Nothing the thawed master did reached the store: a third term loads exactly what the second wrote.
        await cluster.MasterById(successor.Id).Process!.KillAsync();
        var third = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m != successor));
        foreach (var job in blocked.Concat(waiting).Append(submittedMeanwhile))
        {
            var stored = await api[third].Jobs.GetAsync(new GetJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
            Assert.That(stored.State, Is.EqualTo(JobState.Succeeded), $"{job.Id} as stored");
            Assert.That(stored.Attempt, Is.EqualTo(job.Id == blocked[0].Id || job.Id == blocked[1].Id ? 1 : stored.Attempt), $"{job.Id}: the jobs running at the freeze were not run again");
        }

        Assert.That(ledger.Overlaps(), Is.Empty);
        Assert.That(ledger.Ends(), Has.Count.EqualTo(5));
        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1), "no job ran to its end twice");
        Assert.That(ledger.Starts().Values, Is.All.EqualTo(1), "no job was started twice (a worker back from a failover does not fence what it starts)");
    }

    [Test]
    public async Task Agents_running_when_the_leader_freezes_keep_running_under_its_successor()
    {
        var (cluster, api) = await StartAsync("freeze-running");
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1");
        var release = Path.Combine(cluster.Root, "release");
        var job = await api[leader].SubmitAsync(ClusterApi.Shell(ledger.Script($"while [ ! -e {release} ]; do sleep 0.1; done"), cpuMillis: 500));
        await Eventually.TrueAsync(() => ledger.Pids(job.Id, 1).Count == 3, "the agent to run with both children");

        // A frozen leader keeps its TCP connections open: the failover budget must hold all the same.
        Posix.Signal(leader.Pid, Posix.SigStop);
        try
        {
            var successor = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m != leader));
            await api.WaitForReadyNodesAsync(successor, "w1");
            var seen = await api[successor].Jobs.GetAsync(new GetJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
            Assert.That((seen.State, seen.Attempt), Is.EqualTo((JobState.Running, 1)), seen.Message);
            Assert.That(ledger.Pids(job.Id, 1).Where(p => !Posix.IsAlive(p)), Is.Empty, "the worker did not fence its agent during the failover");
            await File.WriteAllTextAsync(release, "go");
            var done = await api[successor].WaitForStateAsync(job.Id, JobState.Succeeded);
            Assert.That(done.Attempt, Is.EqualTo(1));
        }
        finally
        {
            Posix.Signal(leader.Pid, Posix.SigCont);
        }

        Assert.That(ledger.Ends()[job.Id], Is.EqualTo(1));
    }

    [Test]
    public async Task Standby_refuses_with_the_leader_named_and_a_worker_given_only_a_standby_joins_the_leader()
    {
        var (cluster, api) = await StartAsync("standby");
        var leader = await api.WaitForLeaderAsync();
        var leaderInfo = await api.GetLeaderAsync(leader);
        Assert.That(await api.HealthAsync(leader), Is.EqualTo(ServingStatus.Serving));
        var standbys = cluster.Masters.Where(m => m != leader).ToList();

        foreach (var standby in standbys)
        {
            var raw = api[standby];
            var submit = await RpcAssert.FailsWith(StatusCode.FailedPrecondition, () => raw.SubmitAsync(ClusterApi.Shell("exit 0")));
            Assert.That(submit.LeaderTrailer(), Is.EqualTo(leader.Url), $"{standby.Id}: Submit names the leader");
            var list = await RpcAssert.FailsWith(StatusCode.FailedPrecondition, async () => await raw.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline()));
            Assert.That(list.LeaderTrailer(), Is.EqualTo(leader.Url), $"{standby.Id}: Jobs.List names the leader");
            var nodes = await RpcAssert.FailsWith(StatusCode.FailedPrecondition, async () => await raw.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline()));
            Assert.That(nodes.LeaderTrailer(), Is.EqualTo(leader.Url), $"{standby.Id}: Admin.ListNodes names the leader");

            var info = await api.GetLeaderAsync(standby);
            Assert.That(info.IsLeader, Is.False);
            Assert.That((info.MasterId, info.Address, info.Epoch, info.Store), Is.EqualTo((leader.Id, leader.Url, leaderInfo.Epoch, "etcd")));
            Assert.That(await api.HealthAsync(standby), Is.EqualTo(ServingStatus.NotServing));
        }

        var ledger = new AgentLedger(cluster.Root);
        var w1 = cluster.StartWorker("w1", masterUrls: standbys[0].Url);
        await api.WaitForReadyNodesAsync(leader, "w1");
        var job = await api[leader].SubmitAsync(ClusterApi.Shell(ledger.Script("true")));
        var done = await api[leader].WaitForStateAsync(job.Id, JobState.Succeeded);
        Assert.That(done.NodeId, Is.EqualTo("w1"));
        Assert.That(w1.ReadLog(), Does.Contain($"registered with {leader.Url}"));
    }

    [Test]
    public async Task Scheduling_continues_when_the_etcd_leader_member_is_killed()
    {
        var (cluster, api) = await StartAsync("etcd-member", etcdMembers: 3);
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1");
        await using var client = api.NewClient();
        var before = await SubmitAsync(client, ledger, 3, "sleep 0.2");
        foreach (var job in before)
        {
            await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded);
        }

        var etcdLeader = await EtcdLeaderAsync(cluster.Etcd);
        TestContext.Out.WriteLine($"killing etcd leader {etcdLeader.Name}");
        await etcdLeader.KillAsync();

        // A start sent on a worker stream that breaks during the takeover is redone as attempt 2
        // (its agent never ran): what matters is that every job succeeds and runs once (ledger below).
        var after = await SubmitAsync(client, ledger, 6, "sleep 0.2");
        foreach (var job in after)
        {
            await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded);
        }

        await api.WaitForLeaderAsync();
        Assert.That(ledger.Overlaps(), Is.Empty);
        Assert.That(ledger.Ends(), Has.Count.EqualTo(9));
        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1));
    }

    [Test]
    public async Task Etcd_down_for_a_while_stops_scheduling_and_when_it_returns_nothing_acknowledged_is_lost()
    {
        var (cluster, api) = await StartAsync("etcd-outage");
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1");
        await using var client = api.NewClient();
        var release = Path.Combine(cluster.Root, "release");
        var finished = await SubmitAsync(client, ledger, 3, "sleep 0.2");
        foreach (var job in finished)
        {
            await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded);
        }

        var running = await SubmitAsync(client, ledger, 2, $"while [ ! -e {release} ]; do sleep 0.1; done");
        foreach (var job in running)
        {
            await Eventually.TrueAsync(() => ledger.Pids(job.Id, 1).Count == 3, $"{job.Id} to run with both children");
        }

        var etcd = cluster.Etcd.Members[0];
        await etcd.KillAsync();
        var down = DateTime.UtcNow;

        await Eventually.TrueAsync(
            async () =>
            {
                foreach (var master in cluster.Masters)
                {
                    if (await api.HealthAsync(master) != ServingStatus.NotServing)
                    {
                        return false;
                    }
                }

                return true;
            },
            "every master to report NOT_SERVING without etcd",
            TimeSpan.FromSeconds(15));
        foreach (var master in cluster.Masters)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(async () => await api[master].SubmitAsync(ClusterApi.Shell("exit 0")), $"{master.Id} takes no job without etcd");
            Assert.That(ex!.StatusCode, Is.AnyOf(StatusCode.FailedPrecondition, StatusCode.Unavailable), $"{master.Id}: {ex.Status.Detail}");
        }

        // The outage itself is the fault under test, not a wait for something.
        var outage = TimeSpan.FromSeconds(5) - (DateTime.UtcNow - down);
        if (outage > TimeSpan.Zero)
        {
            await Task.Delay(outage);
        }

        await cluster.Etcd.RestartAsync(etcd);
        var successor = await api.WaitForLeaderAsync(timeout: TimeSpan.FromSeconds(45));
        TestContext.Out.WriteLine($"after the outage {successor.Id} leads");
        await File.WriteAllTextAsync(release, "go");

        foreach (var job in finished)
        {
            var stored = await client.GetJobAsync(job.Id, CancellationToken.None);
            Assert.That((stored.State, stored.Attempt), Is.EqualTo((JobState.Succeeded, 1)), $"{job.Id} finished before the outage");
        }

        foreach (var job in running)
        {
            var done = await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded);
            TestContext.Out.WriteLine($"{job.Id} ran {done.Attempt} attempt(s): {done.Message}");
        }

        var later = await SubmitAsync(client, ledger, 1, "true");
        await HaClusterApi.WaitForStateAsync(client, later[0].Id, JobState.Succeeded);
        Assert.That(ledger.Overlaps(), Is.Empty, "no attempt started while an earlier one still ran");
        Assert.That(ledger.Ends(), Has.Count.EqualTo(6));
        Assert.That(ledger.Ends().Values, Is.All.EqualTo(1), "every job ran to its end once");
    }

    [Test]
    public async Task Schedctl_and_workers_carry_on_after_the_leader_is_killed_without_manual_action()
    {
        var (cluster, api) = await StartAsync("schedctl");
        cluster.StartWorker("w1");
        cluster.StartWorker("w2");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1", "w2");
        var first = await Schedctl("submit", "--name", "before", "--wait", "--", "/bin/true");
        Assert.That(first.ExitCode, Is.Zero, first.Err);

        await leader.Process!.KillAsync();

        // The dead leader is first in the list: schedctl must move on and follow whoever leads now.
        var list = await Schedctl("jobs", "list");
        Assert.That(list.ExitCode, Is.Zero, list.Err);
        Assert.That(list.Out, Does.Contain("before"));
        var submit = await Schedctl("submit", "--name", "after", "--wait", "--", "/bin/true");
        Assert.That(submit.ExitCode, Is.Zero, submit.Err);
        var successor = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m != leader));
        var shown = await Schedctl("leader");
        Assert.That(shown.ExitCode, Is.Zero, shown.Err);
        Assert.That(shown.Out, Does.Contain($"{successor.Id} at {successor.Url}"));
        await api.WaitForReadyNodesAsync(successor, "w1", "w2");

        Task<CommandResult> Schedctl(params string[] args) =>
            DotnetCommand.RunAsync(
                Artifacts.SchedctlDll,
                ["--master", string.Join(',', cluster.Masters.OrderBy(m => m == leader ? 0 : 1).Select(m => m.Url)), .. args],
                timeout: TimeSpan.FromSeconds(60),
                env: new Dictionary<string, string?>(TestCertificates.SchedctlEnvironment()) { ["SCHEDULER_MASTER"] = null });
    }

    [Test]
    public async Task Master_on_etcd_whose_failover_budget_does_not_hold_exits_2_naming_dead_after()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"ha-budget-{Guid.NewGuid():N}");
        try
        {
            // Workers would fence after 2 s, a failover with a 1 s lease takes longer: refused before etcd is touched.
            var args = HaCluster.MasterArgs("m1", dataDir, "http://127.0.0.1:9", new HaTimings(1000, 1000, 3000));

            var result = await DotnetCommand.RunAsync(Artifacts.MasterDll, args, timeout: TimeSpan.FromSeconds(60));

            Assert.That(result.ExitCode, Is.EqualTo(2), result.Out + result.Err);
            var said = (result.Out + result.Err).Trim();
            Assert.That(said.Split('\n'), Has.Length.EqualTo(1), said);
            Assert.That(said, Does.Contain("--dead-after-ms"));
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    [Test]
    public async Task A_leader_stopped_gracefully_resigns_so_a_standby_takes_over_before_its_lease_could_lapse()
    {
        // A 10 s lease: a takeover within 8 s of the stop can only come from the leader resigning.
        var (cluster, api) = await StartAsync("resign", timings: new HaTimings(LeaseTtlMs: 10_000, HeartbeatIntervalMs: 250, DeadAfterMs: 22_000));
        var ledger = new AgentLedger(cluster.Root);
        cluster.StartWorker("w1");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1");
        var job = await api[leader].SubmitAsync(ClusterApi.Shell(ledger.Script("sleep 2"), cpuMillis: 500));
        await Eventually.TrueAsync(() => ledger.Starts().ContainsKey(job.Id), "the job to start");

        await leader.Process!.StopAsync();

        Assert.That(leader.Process.ExitCode, Is.Zero, "a graceful stop");
        var successor = await api.WaitForLeaderAsync(cluster.Masters.Where(m => m != leader), TimeSpan.FromSeconds(8));
        Assert.That(leader.ReadLog(), Does.Contain($"Master {leader.Id} no longer leads").And.Contain("the master is stopping"));
        await api[successor].WaitForStateAsync(job.Id, JobState.Succeeded, TimeSpan.FromSeconds(60));
        Assert.That(ledger.Starts()[job.Id], Is.EqualTo(1), "the job running through the handover was not run again");
    }

    [Test]
    public async Task Leader_killed_right_after_a_migration_began_the_job_ends_up_in_one_place_and_counts_on()
    {
        var (cluster, api) = await StartAsync("kill-migrate");
        cluster.StartWorker("w1");
        cluster.StartWorker("w2");
        var leader = await api.WaitForLeaderWithReadyNodesAsync("w1", "w2");
        await using var client = api.NewClient();
        var ledger = Path.Combine(cluster.Root, "counter.ledger");
        var spec = new JobSpec { Name = "counter", Command = "dotnet", Resources = new Resources { CpuMillis = 200, MemoryMib = 256 }, Checkpointable = true };
        spec.Args.Add([Artifacts.CounterAgentDll, "50", "200"]);
        spec.Env["COUNTER_LEDGER"] = ledger;
        var job = (await client.SubmitAsync(spec, null, CancellationToken.None)).Job;
        var running = await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Running);
        await Eventually.TrueAsync(() => File.Exists(ledger) && File.ReadAllLines(ledger).Length >= 10, "the counter to count");

        var migrating = await client.MigrateJobAsync(job.Id, running.NodeId == "w1" ? "w2" : "w1", CancellationToken.None);
        Assert.That(migrating.State, Is.EqualTo(JobState.Migrating));
        await cluster.MasterById(leader.Id).Process!.KillAsync();

        // Whatever the new leader learns (the source's report is held across the reconnect), the job
        // either moved or stayed, and it counts to the end exactly once.
        var done = await HaClusterApi.WaitForStateAsync(client, job.Id, JobState.Succeeded, TimeSpan.FromSeconds(90));
        var values = File.ReadAllLines(ledger).Where(l => l.Length > 0).Select(long.Parse).ToList();
        Assert.That(values, Is.EqualTo(Enumerable.Range(1, 200).Select(v => (long)v)), "1..200 with no gap and no repeat: never two copies, never restarted from zero");
        TestContext.Out.WriteLine($"after the failover: {done.LastMigration?.Phase ?? "no migration recorded"} on {done.NodeId}, attempt {done.Attempt}");
    }

    private async Task<(HaCluster Cluster, HaClusterApi Api)> StartAsync(string name, int etcdMembers = 1, HaTimings? timings = null, IReadOnlyList<string>? extraMasterArgs = null)
    {
        _cluster = await HaCluster.StartAsync(name, etcdMembers, timings: timings, extraMasterArgs: extraMasterArgs);
        _api = new HaClusterApi(_cluster);
        return (_cluster, _api);
    }

    private static async Task<List<Job>> SubmitAsync(SchedulerClient client, AgentLedger ledger, int count, string work)
    {
        var jobs = new List<Job>();
        for (var i = 0; i < count; i++)
        {
            jobs.Add((await client.SubmitAsync(ClusterApi.Shell(ledger.Script(work), cpuMillis: 500), null, CancellationToken.None)).Job);
        }

        return jobs;
    }

    private static int CountOf(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>The member etcd itself reports as its raft leader (maintenance status over the JSON gateway).</summary>
    private static async Task<EtcdMember> EtcdLeaderAsync(EtcdCluster etcd)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        return await Eventually.ReturnsAsync(
            async () =>
            {
                foreach (var member in etcd.Members)
                {
                    using var response = await http.PostAsync(new Uri(member.ClientUrl + "/v3/maintenance/status"), new StringContent("{}"));
                    response.EnsureSuccessStatusCode();
                    using var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    var self = status.RootElement.GetProperty("header").GetProperty("member_id").GetString();
                    var leader = status.RootElement.GetProperty("leader").GetString();
                    if (self is not null && self == leader)
                    {
                        return member;
                    }
                }

                return null;
            },
            "etcd to report its leader");
    }
}
