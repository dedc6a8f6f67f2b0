using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>
/// Gangs through the master on seeded random clusters, with single jobs (some urgent enough to
/// preempt) beside them and agents that start, succeed, fail and are stopped at random. After every
/// step: a gang's replicas all started in one pass or none, a waiting gang holds nothing, every agent
/// still running is one the store says holds its capacity (so a gang is released only once all its
/// replicas are gone), the nodes' free GPUs match the store, and no replica is ever stopped but
/// because its own gang broke or was cancelled (never by preemption).
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class GangPropertyTests
{
    private static IEnumerable<int> Seeds() => Enumerable.Range(1, 25);

    [TestCaseSource(nameof(Seeds))]
    public async Task Gangs_are_placed_all_or_nothing_released_together_and_never_partly_preempted(int seed)
    {
        var random = new Random(seed);
        await using var harness = await LoopHarness.StartAsync(new MasterOptions
        {
            HeartbeatIntervalMs = 1000, DeadAfterMs = 3_600_000, ReconnectWindowMs = 0, PreemptMinPriority = 500,
        });
        var sessions = new List<WorkerSession>();
        var capacity = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = random.Next(1, 5); i > 0; i--)
        {
            var gpus = random.Next(1, 5);
            var id = $"n{sessions.Count + 1}";
            sessions.Add(await harness.ConnectAsync(id, gpus));
            capacity[id] = gpus;
        }

        for (var i = random.Next(2, 6); i > 0; i--)
        {
            await GangLoopTests.SubmitGangAsync(harness, $"gang-{i}", replicas: random.Next(2, 6), gpus: random.Next(0, 3), priority: random.Next(1, 4) * 100);
        }

        var live = new Dictionary<(string AgentId, int Attempt), (WorkerSession Session, bool Running)>();
        var stopping = new HashSet<(string AgentId, int Attempt)>();
        var broken = new HashSet<(string JobId, int Attempt)>();
        var startedAttempts = new HashSet<(string JobId, int Attempt)>();
        for (var step = 0; step < 40; step++)
        {
            if (random.Next(5) == 0)
            {
                await harness.SubmitAsync($"single-{step}", gpus: random.Next(1, 3), priority: random.Next(2) == 0 ? 900 : 100);
            }

            await harness.AdvanceAsync(TimeSpan.FromSeconds(1));
            var store = harness.Store.Jobs;
            var starts = new Dictionary<(string JobId, int Attempt), List<int>>();
            foreach (var session in sessions)
            {
                foreach (var command in LoopHarness.Drain(session))
                {
                    if (command.BodyCase == MasterCommand.BodyOneofCase.Start)
                    {
                        var start = command.Start;
                        live[(start.JobId, start.Attempt)] = (session, false);
                        if (start.Gang is { } gang)
                        {
                            var key = (gang.JobId, start.Attempt);
                            starts.TryAdd(key, []);
                            starts[key].Add(gang.Rank);
                        }
                    }
                    else if (command.BodyCase == MasterCommand.BodyOneofCase.Stop)
                    {
                        var stop = command.Stop;
                        if (GangMembers.TryParse(stop.JobId, out var gangId, out _))
                        {
                            Assert.That(broken, Does.Contain((gangId, stop.Attempt)), $"seed {seed}: replica {stop.JobId} stopped though its gang neither broke nor was cancelled ({stop.Reason})");
                        }

                        stopping.Add((stop.JobId, stop.Attempt));
                    }
                }
            }

            foreach (var ((jobId, attempt), ranks) in starts)
            {
                Assert.That(startedAttempts.Add((jobId, attempt)), Is.True, $"seed {seed}: {jobId} attempt {attempt} started in two passes");
                Assert.That(ranks.Order(), Is.EqualTo(Enumerable.Range(0, store[jobId].Size)), $"seed {seed}: {jobId} attempt {attempt} started whole");
            }

            CheckInvariants(seed, harness, store, live.Keys, capacity);

            // The agents act: stopped ones exit, the others start, succeed or fail at random.
            foreach (var ((agentId, attempt), (session, running)) in live.ToArray())
            {
                var gangId = GangMembers.TryParse(agentId, out var g, out _) ? g : null;
                if (stopping.Remove((agentId, attempt)))
                {
                    harness.Report(session, agentId, attempt, AgentState.Exited, exitCode: 143);
                    live.Remove((agentId, attempt));
                    continue;
                }

                if (!running)
                {
                    harness.Report(session, agentId, attempt, AgentState.Running);
                    live[(agentId, attempt)] = (session, true);
                    continue;
                }

                switch (random.Next(8))
                {
                    case 0:
                        harness.Report(session, agentId, attempt, AgentState.Exited, exitCode: 0);
                        live.Remove((agentId, attempt));
                        break;
                    case 1:
                        if (gangId is not null)
                        {
                            broken.Add((gangId, attempt));
                        }

                        harness.Report(session, agentId, attempt, AgentState.Exited, exitCode: 1);
                        live.Remove((agentId, attempt));
                        break;
                }
            }

            if (random.Next(10) != 0)
            {
                continue;
            }

            await harness.SettleAsync();
            if (harness.Store.Jobs.Values.FirstOrDefault(j => j.IsGang && !j.IsTerminal) is { } victim)
            {
                broken.Add((victim.Id, victim.Attempt));
                broken.Add((victim.Id, victim.Attempt + 1));
                await harness.Loop.AskAsync<Job>(r => new CancelJob(victim.Id, r), CancellationToken.None);
            }
        }

        await TestContext.Out.WriteLineAsync($"seed {seed}: {capacity.Count} nodes, {startedAttempts.Count} gang attempts started, {broken.Count} broken or cancelled");
    }

    private static void CheckInvariants(
        int seed,
        LoopHarness harness,
        IReadOnlyDictionary<string, JobRecord> store,
        IEnumerable<(string AgentId, int Attempt)> live,
        Dictionary<string, int> capacity)
    {
        foreach (var job in store.Values.Where(j => j.IsGang))
        {
            Assert.That(job.HoldsAllocation, Is.EqualTo(job.Replicas.Any(r => r.Holds)), $"seed {seed}: {job.Id}");
            if (job.State == JobState.Pending || job.IsTerminal && !job.HoldsAllocation)
            {
                Assert.That(job.Replicas.Where(r => r.Holds), Is.Empty, $"seed {seed}: waiting or finished gang {job.Id} holds a replica");
            }

            if (job.State == JobState.Assigned && !job.RequeueOnExit)
            {
                Assert.That(job.Replicas.All(r => r.Holds), Is.True, $"seed {seed}: gang {job.Id} placed in part");
            }
        }

        foreach (var (agentId, attempt) in live)
        {
            var holds = GangMembers.TryParse(agentId, out var gangId, out var rank)
                ? store[gangId] is var gang && gang.Attempt == attempt && gang.Replicas[rank].Holds
                : store[agentId] is var job && job.Attempt == attempt && job.HoldsAllocation;
            Assert.That(holds, Is.True, $"seed {seed}: agent {agentId} attempt {attempt} still runs but the store released it");
        }

        foreach (var (nodeId, gpus) in capacity)
        {
            var held = store.Values.Sum(j => j.IsGang
                ? j.Replicas.Count(r => r.Holds && r.NodeId == nodeId) * j.Spec.Resources.Gpus
                : j.HoldsAllocation && j.NodeId == nodeId ? j.Spec.Resources.Gpus : 0);
            var holders = store.Values.Where(j => GangMembers.HoldsOn(j, nodeId)).Select(j => $"{j.Id}:{j.State}:{j.Spec.Resources.Gpus}x{j.Replicas.Count(r => r.Holds && r.NodeId == nodeId)}");
            Assert.That(
                harness.Loop.View.Nodes[nodeId].Free.Gpus,
                Is.EqualTo(gpus - held),
                $"seed {seed}: free GPUs on {nodeId} (allocations {string.Join(",", harness.Loop.View.Nodes[nodeId].JobIds)}; store {string.Join(",", holders)})");
        }
    }
}
