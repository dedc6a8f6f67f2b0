using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>
/// The scheduling loop's failure detector when most nodes go silent at once (the master or its
/// network at fault more likely than that many machines): dead verdicts come at a bounded rate,
/// each node's jobs requeued only with its verdict, and all in the end; a lone silent node is
/// still declared dead at once.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class MassSilenceTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Test]
    public async Task Fifteen_of_twenty_nodes_silent_at_once_are_declared_dead_at_most_one_a_second_and_all_in_the_end()
    {
        await using var harness = await StartAsync();
        var sessions = await ConnectAsync(harness, 20);
        var (job, holder) = await RunningJobAsync(harness, sessions);
        var others = sessions.Where(s => s != holder).ToArray();
        var (alive, silent) = (others[..5], others[5..].Append(holder).ToArray());

        // Past dead-after (10 s) for the fifteen; the five keep heartbeating throughout.
        await harness.PassAsync(Second, TimeSpan.FromSeconds(10), alive);
        var deadAt = new List<int>();
        for (var second = 0; second < 60 && DeadCount(harness, silent) < silent.Length; second++)
        {
            await harness.PassAsync(Second, Second, alive);
            deadAt.Add(DeadCount(harness, silent));
            if (harness.Loop.View.Nodes[holder.NodeId].Health != NodeHealth.Dead)
            {
                Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running), "not requeued before its node is declared dead");
            }
        }

        var first = deadAt.FindIndex(n => n > 0);
        Assert.That(first, Is.GreaterThanOrEqualTo(0), "verdicts came");
        for (var i = first; i < deadAt.Count; i++)
        {
            Assert.That(deadAt[i], Is.LessThanOrEqualTo(i - first + 1), $"{i - first} s after the first verdict");
        }

        Assert.That(DeadCount(harness, silent), Is.EqualTo(15), "every silent node declared dead in the end");
        Assert.That(alive.Select(s => harness.Loop.View.Nodes[s.NodeId].Health), Has.All.EqualTo(NodeHealth.Ready));
        Assert.That(silent.Select(s => s.Closed.IsCancellationRequested), Has.All.True, "their sessions cut");
        Assert.That(harness.Store.Jobs[job.Id].NodeId, Is.Not.EqualTo(holder.NodeId), "its job given up with its node");
    }

    [Test]
    public async Task A_node_of_the_many_held_back_that_is_heard_from_again_stays_ready_with_its_job()
    {
        await using var harness = await StartAsync();
        var sessions = await ConnectAsync(harness, 20);
        var (job, holder) = await RunningJobAsync(harness, sessions);
        var others = sessions.Where(s => s != holder).ToArray();
        var (alive, silent) = (others[..4], others[4..]);

        // Everyone but four falls silent; the job's node only a little later than the rest, so it is last in line.
        await harness.PassAsync(Second, TimeSpan.FromSeconds(2), [.. alive, holder]);
        await harness.PassAsync(Second, TimeSpan.FromSeconds(12), alive);
        Assert.That(harness.Loop.View.Nodes[holder.NodeId].Health, Is.Not.EqualTo(NodeHealth.Dead), "held back");

        await harness.PassAsync(Second, TimeSpan.FromSeconds(3), [.. alive, holder]);

        Assert.That(harness.Loop.View.Nodes[holder.NodeId].Health, Is.EqualTo(NodeHealth.Ready));
        Assert.That(holder.Closed.IsCancellationRequested, Is.False, "its session kept: no registration again");
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
        Assert.That(DeadCount(harness, silent), Is.InRange(1, silent.Length - 1), "the others still paced");
    }

    [Test]
    public async Task When_most_streams_break_at_once_the_few_nodes_silent_longer_are_paced_already()
    {
        await using var harness = await StartAsync();
        var sessions = await ConnectAsync(harness, 20);
        var (late, broken, alive) = (sessions[..3], sessions[3..16], sessions[16..]);

        // Three fall silent; four seconds later thirteen more streams break (all suspect, not yet dead).
        await harness.PassAsync(Second, TimeSpan.FromSeconds(4), [.. broken, .. alive]);
        foreach (var session in broken)
        {
            harness.Loop.Post(new WorkerDisconnected(session));
        }

        await harness.PassAsync(Second, TimeSpan.FromSeconds(7), alive);

        // Eleven seconds after the three went silent: sixteen of twenty not ready, so not all three at once.
        Assert.That(DeadCount(harness, late), Is.EqualTo(1));
        Assert.That(DeadCount(harness, broken), Is.Zero);
    }

    [Test]
    public async Task One_silent_node_of_twenty_is_declared_dead_as_soon_as_it_is_past_dead_after()
    {
        await using var harness = await StartAsync();
        var sessions = await ConnectAsync(harness, 20);
        var (silent, alive) = (sessions[0], sessions[1..]);

        await harness.PassAsync(Second, TimeSpan.FromSeconds(10), alive);
        Assert.That(harness.Loop.View.Nodes[silent.NodeId].Health, Is.EqualTo(NodeHealth.Suspect), "10 s: not yet past dead-after");

        await harness.PassAsync(Second, Second, alive);

        Assert.That(harness.Loop.View.Nodes[silent.NodeId].Health, Is.EqualTo(NodeHealth.Dead));
    }

    private static async Task<WorkerSession[]> ConnectAsync(LoopHarness harness, int count)
    {
        var sessions = new WorkerSession[count];
        for (var i = 0; i < count; i++)
        {
            sessions[i] = await harness.ConnectAsync($"n{i:D2}", gpus: 4);
        }

        return sessions;
    }

    /// <summary>A job that takes a whole node, running; and the node's session.</summary>
    private static async Task<(Job Job, WorkerSession Holder)> RunningJobAsync(LoopHarness harness, WorkerSession[] sessions)
    {
        var job = await harness.SubmitAsync("whole-node", gpus: 4);
        await harness.SettleAsync();
        var holder = sessions.Single(s => Drain(s).Any(c => c.BodyCase == MasterCommand.BodyOneofCase.Start));
        harness.Report(holder, job.Id, 1, AgentState.Running);
        await harness.SettleAsync();
        Assert.That(harness.Store.Jobs[job.Id].State, Is.EqualTo(JobState.Running));
        return (job, holder);
    }

    private static int DeadCount(LoopHarness harness, IEnumerable<WorkerSession> sessions) =>
        sessions.Count(s => harness.Loop.View.Nodes[s.NodeId].Health == NodeHealth.Dead);
}
