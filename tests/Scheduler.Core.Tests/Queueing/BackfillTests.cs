using Scheduler.Core.Cluster;
using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Queueing;

public sealed class BackfillTests
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    [Test]
    public void A_short_job_is_backfilled_beside_a_blocked_head()
    {
        var (nodes, running) = OneNodeWithThreeBusyGpusForAnHour();
        var waiting = new[] { Job("head", 1, gpus: 4, runtime: Hour), Job("short", 2, gpus: 1, runtime: Hour / 2) };

        var decisions = Cycle().Run(waiting, nodes, T0, running).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["short"].Placed, Is.True);
        Assert.That(decisions["head"].Reservation, Is.EqualTo(new Reservation("head", "n1", T0 + Hour)));
        Assert.That(decisions["head"].Reason, Does.Contain("reserved n1 from"));
    }

    [Test]
    public void A_job_that_would_outlast_the_reservation_on_its_node_waits()
    {
        var (nodes, running) = OneNodeWithThreeBusyGpusForAnHour();
        var waiting = new[] { Job("head", 1, gpus: 4, runtime: Hour), Job("long", 2, gpus: 1, runtime: 2 * Hour), Job("unknown", 3, gpus: 1) };

        var decisions = Cycle().Run(waiting, nodes, T0, running).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["long"].Placed, Is.False);
        Assert.That(decisions["long"].Reason, Does.Contain("would delay head"));
        Assert.That(decisions["unknown"].Placed, Is.False, "no estimate: it may run forever");
    }

    [Test]
    public void A_long_job_may_use_what_the_head_will_not_need()
    {
        var (nodes, running) = OneNodeWithThreeBusyGpusForAnHour();
        var waiting = new[] { Job("head", 1, gpus: 4, cpuCores: 4, runtime: Hour), Job("cpu-only", 2, cpuCores: 8, runtime: 10 * Hour) };

        var decisions = Cycle().Run(waiting, nodes, T0, running).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["cpu-only"].Placed, Is.True, "32 cores: the head needs 4 of the 24 left");
    }

    [Test]
    public void A_job_that_would_delay_the_head_on_its_node_goes_to_another_node()
    {
        var (nodes, running) = OneNodeWithThreeBusyGpusForAnHour();
        nodes["n2"] = Node("n2", gpus: 1);
        nodes["n2"].Allocate(new Allocation("filler", "n2", new Resources.ResourceRequest(1000, 1024, GpuMilli: 100), [new Resources.GpuShare(0, 100)]));
        var waiting = new[] { Job("head", 1, gpus: 4, runtime: Hour), Job("long", 2, gpuMilli: 500, runtime: 5 * Hour) };

        var decisions = Cycle().Run(waiting, nodes, T0, running).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["long"].Allocation?.NodeId, Is.EqualTo("n2"));
    }

    [Test]
    public void Without_runtime_information_the_cycle_is_greedy_as_before()
    {
        var (nodes, _) = OneNodeWithThreeBusyGpusForAnHour();
        var waiting = new[] { Job("head", 1, gpus: 4), Job("small", 2, gpus: 1) };

        var decisions = Cycle().Run(waiting, nodes, T0).ToDictionary(d => d.Job.JobId);

        Assert.That(decisions["small"].Placed, Is.True);
        Assert.That(decisions["head"].Reservation, Is.Null);
    }

    [Test]
    public void Backfill_never_delays_the_heads_reservation_in_random_scenarios()
    {
        var stats = RunRandomScenarios(backfill: true, seed: 1234, scenarios: 400);

        Assert.That(stats.Delayed, Is.Zero);
        Assert.That(stats.WithReservation, Is.GreaterThan(100), "the scenarios must exercise reservations");
        Assert.That(stats.BackfilledOnReservedNode, Is.GreaterThan(20), "and backfill on the reserved node");
    }

    [Test]
    public void Without_backfill_the_same_scenarios_do_delay_heads_which_shows_the_property_can_fail()
    {
        var stats = RunRandomScenarios(backfill: false, seed: 1234, scenarios: 400);

        Assert.That(stats.Delayed, Is.GreaterThan(0));
    }

    [Test]
    public void A_reservation_goes_to_the_earliest_node_and_of_equal_times_to_the_first_by_id_whatever_the_order_given()
    {
        // b and c free a GPU in an hour, a in two: c and b tie, and b sorts first; listed backwards.
        var ends = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var nodes = new List<NodeState>();
        foreach (var (id, hours) in new[] { ("c", 1), ("b", 1), ("a", 2) })
        {
            var node = Node(id, cpuCores: 32, gpus: 2);
            Start(node, Job($"{id}-busy", 0, gpus: 2), T0);
            ends[$"{id}-busy"] = T0 + (hours * Hour);
            nodes.Add(node);
        }

        var head = Job("head", 1, gpus: 1);
        var found = ReservationFinder.Find(head.Demand, nodes, id => ends.GetValueOrDefault(id, DateTimeOffset.MaxValue), T0);
        Assert.That((found?.Node.Id, found?.At), Is.EqualTo(("b", T0 + Hour)));

        // Work with no known end never frees up; a node that fits now wins outright.
        ends.Remove("b-busy");
        ends.Remove("c-busy");
        found = ReservationFinder.Find(head.Demand, nodes, id => ends.GetValueOrDefault(id, DateTimeOffset.MaxValue), T0);
        Assert.That((found?.Node.Id, found?.At), Is.EqualTo(("a", T0 + (2 * Hour))));
        nodes.Add(Node("z", cpuCores: 32, gpus: 1));
        found = ReservationFinder.Find(head.Demand, nodes, id => ends.GetValueOrDefault(id, DateTimeOffset.MaxValue), T0);
        Assert.That((found?.Node.Id, found?.At), Is.EqualTo(("z", T0)));
    }

    [Test]
    public void A_node_that_fits_now_wins_over_one_that_fits_only_once_overdue_work_ends()
    {
        // a's work was expected to end an hour ago and still runs: the job fits there "now" only if it
        // ends this instant. z fits now for certain, so it takes the reservation although a sorts first
        // (as before the search stopped sorting nodes).
        var ends = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var a = Node("a", cpuCores: 32, gpus: 2);
        Start(a, Job("a-busy", 0, gpus: 2), T0 - (3 * Hour));
        ends["a-busy"] = T0 - Hour;
        var z = Node("z", cpuCores: 32, gpus: 1);
        var head = Job("head", 1, gpus: 1);

        foreach (var nodes in new[] { new[] { a, z }, new[] { z, a } })
        {
            var found = ReservationFinder.Find(head.Demand, nodes, id => ends.GetValueOrDefault(id, DateTimeOffset.MaxValue), T0);
            Assert.That((found?.Node.Id, found?.At), Is.EqualTo(("z", T0)));
        }
    }

    private static (Dictionary<string, NodeState> Nodes, Dictionary<string, RunningJob> Running) OneNodeWithThreeBusyGpusForAnHour()
    {
        var nodes = Nodes(Node("n1", cpuCores: 32, gpus: 4));
        var running = new Dictionary<string, RunningJob>
        {
            ["busy"] = Start(nodes["n1"], Job("busy", 0, gpus: 3, runtime: Hour), T0),
        };
        return (nodes, running);
    }

    private static (int WithReservation, int Delayed, int BackfilledOnReservedNode) RunRandomScenarios(bool backfill, int seed, int scenarios)
    {
        var random = new Random(seed);
        int withReservation = 0, delayed = 0, backfilledOnReservedNode = 0;
        for (var s = 0; s < scenarios; s++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(1, 4)).Select(i => Node($"n{i}", cpuCores: 16, gpus: random.Next(1, 9))).ToArray());
            var running = new Dictionary<string, RunningJob>();
            for (var r = 0; r < 12; r++)
            {
                var node = nodes[$"n{random.Next(nodes.Count)}"];
                var job = Job($"r{r}", r, cpuCores: random.Next(1, 4), gpus: random.Next(0, 3),
                    runtime: TimeSpan.FromMinutes(random.Next(1, 240)));
                if (PlacementFits(node, job))
                {
                    running[job.JobId] = Start(node, job, T0.AddMinutes(-random.Next(0, 60)));
                }
            }

            var now = T0;
            var waiting = Enumerable.Range(0, 15)
                .Select(w => Job($"w{w}", 100 + w, cpuCores: random.Next(1, 8), gpus: random.Next(0, w == 0 ? 9 : 4),
                    runtime: random.Next(6) == 0 ? null : TimeSpan.FromMinutes(random.Next(1, 300))))
                .ToArray();

            // Where the head could start before anything new runs is what backfill must protect.
            var decisions = Cycle(QueuePolicyNames.Fifo, new SchedulingCycleOptions { Backfill = true })
                .Run(waiting, CloneAll(nodes), now, running);
            if (decisions.FirstOrDefault(d => d.Reservation is not null) is not { Reservation: { } promised } headDecision)
            {
                continue;
            }

            withReservation++;
            var actual = backfill ? decisions : Cycle(QueuePolicyNames.Fifo, new SchedulingCycleOptions { Backfill = false }).Run(waiting, nodes, now, running);
            var after = backfill ? ApplyTo(nodes, decisions) : nodes;
            var ends = running.ToDictionary(kv => kv.Key, kv => kv.Value.ExpectedEnd);
            foreach (var d in actual.Where(d => d.Placed))
            {
                ends[d.Job.JobId] = d.Job.RuntimeEstimate is { } e ? now + e : DateTimeOffset.MaxValue;
                if (d.Allocation!.NodeId == promised.NodeId)
                {
                    backfilledOnReservedNode++;
                }
            }

            var again = ReservationFinder.Find(headDecision.Job.Demand, after.Values, id => ends.GetValueOrDefault(id, DateTimeOffset.MaxValue), now);
            if (again is null || again.Value.At > promised.At)
            {
                delayed++;
            }
        }

        return (withReservation, delayed, backfilledOnReservedNode);
    }

    private static bool PlacementFits(NodeState node, QueuedJob job) =>
        Scheduler.Core.Placement.PlacementEngine.Filter(node, job.Demand) is null;

    private static Dictionary<string, NodeState> CloneAll(Dictionary<string, NodeState> nodes) =>
        nodes.ToDictionary(kv => kv.Key, kv => Clone(kv.Value), StringComparer.Ordinal);

    private static Dictionary<string, NodeState> ApplyTo(Dictionary<string, NodeState> nodes, IEnumerable<SchedulingDecision> decisions)
    {
        foreach (var d in decisions.Where(d => d.Placed))
        {
            nodes[d.Allocation!.NodeId].Allocate(d.Allocation);
        }

        return nodes;
    }

    private static NodeState Clone(NodeState node)
    {
        var copy = new NodeState(node.Id, node.CpuCapacity, node.MemoryCapacity, node.Gpus, node.Labels);
        foreach (var allocation in node.Allocations.Values)
        {
            copy.Allocate(allocation);
        }

        return copy;
    }
}
