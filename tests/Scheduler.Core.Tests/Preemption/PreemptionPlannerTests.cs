using Scheduler.Core.Cluster;
using Scheduler.Core.Preemption;
using Scheduler.Core.Queueing;
using static Scheduler.Core.Tests.Queueing.Build;

namespace Scheduler.Core.Tests.Preemption;

public sealed class PreemptionPlannerTests
{
    private static readonly PreemptionOptions Rules = new() { MinPreemptorPriority = 500, ProtectedFromPriority = 900 };

    [Test]
    public void Evicts_one_big_job_rather_than_two_small_ones()
    {
        var nodes = Nodes(Node("n1", gpus: 4));
        var running = new Dictionary<string, RunningJob>
        {
            ["small-1"] = Start(nodes["n1"], Job("small-1", 1, priority: 10, gpus: 1), T0),
            ["small-2"] = Start(nodes["n1"], Job("small-2", 2, priority: 10, gpus: 1), T0),
            ["big"] = Start(nodes["n1"], Job("big", 3, priority: 300, gpus: 2), T0),
        };

        var plan = new PreemptionPlanner(Rules).Plan(Job("urgent", 4, priority: 800, gpus: 2), nodes.Values, running, T0);

        Assert.That(plan?.Victims, Is.EqualTo(new[] { "big" }));
    }

    [Test]
    public void Prefers_the_checkpointable_victim_when_all_else_is_equal()
    {
        var nodes = Nodes(Node("n1", gpus: 2));
        var running = new Dictionary<string, RunningJob>
        {
            ["a"] = Start(nodes["n1"], Job("a", 1, priority: 10, gpus: 1), T0),
            ["b"] = Start(nodes["n1"], Job("b", 2, priority: 10, gpus: 1), T0, checkpointable: true),
        };

        var plan = new PreemptionPlanner(Rules).Plan(Job("urgent", 3, priority: 800, gpus: 1), nodes.Values, running, T0.AddHours(1));

        Assert.That(plan?.Victims, Is.EqualTo(new[] { "b" }));
        Assert.That(plan?.Cost.LostSeconds, Is.Zero);
    }

    [Test]
    public void Never_evicts_equal_priority_or_protected_jobs_and_low_classes_do_not_preempt()
    {
        var nodes = Nodes(Node("n1", gpus: 2));
        var running = new Dictionary<string, RunningJob>
        {
            ["peer"] = Start(nodes["n1"], Job("peer", 1, priority: 800, gpus: 1), T0),
            ["system"] = Start(nodes["n1"], Job("system", 2, priority: 950, gpus: 1), T0),
        };
        var planner = new PreemptionPlanner(Rules);

        Assert.That(planner.Plan(Job("urgent", 3, priority: 800, gpus: 1), nodes.Values, running, T0), Is.Null);
        Assert.That(planner.Plan(Job("top", 4, priority: 1000, gpus: 2), nodes.Values, running, T0), Is.Null, "system is protected");
        Assert.That(planner.Plan(Job("top", 4, priority: 1000, gpus: 1), nodes.Values, running, T0)?.Victims, Is.EqualTo(new[] { "peer" }));

        running["low"] = Start(Node("n2", gpus: 1), Job("low", 5, priority: 1, gpus: 1), T0);
        Assert.That(planner.Plan(Job("meek", 6, priority: 400, gpus: 1), nodes.Values, running, T0), Is.Null, "below the preemptor threshold");
    }

    [Test]
    public void The_cycle_attaches_a_plan_to_a_blocked_job_and_does_not_promise_a_victim_twice()
    {
        var nodes = Nodes(Node("n1", gpus: 2));
        var running = new Dictionary<string, RunningJob>
        {
            ["low"] = Start(nodes["n1"], Job("low", 1, priority: 10, gpus: 2), T0),
        };
        var cycle = Cycle(QueuePolicyNames.Priority, new SchedulingCycleOptions { Preemption = Rules });

        var decisions = cycle.Run([Job("urgent-1", 2, priority: 800, gpus: 2), Job("urgent-2", 3, priority: 700, gpus: 1)], nodes, T0, running);

        Assert.That(decisions[0].Preemption?.Victims, Is.EqualTo(new[] { "low" }));
        Assert.That(decisions[0].Reason, Does.Contain("preempting 1"));
        Assert.That(decisions[1].Preemption, Is.Null);
        Assert.That(nodes["n1"].Allocations.Keys, Is.EqualTo(new[] { "low" }), "the planner only plans");
    }

    [Test]
    public void Picks_a_minimal_victim_set_on_small_random_cases_as_brute_force_does()
    {
        var random = new Random(2024);
        var planned = 0;
        for (var scenario = 0; scenario < 400; scenario++)
        {
            var nodes = Nodes(Enumerable.Range(0, random.Next(1, 4)).Select(i => Node($"n{i}", cpuCores: 16, gpus: random.Next(1, 9))).ToArray());
            var running = new Dictionary<string, RunningJob>();
            for (var r = 0; r < 14; r++)
            {
                var host = nodes[$"n{random.Next(nodes.Count)}"];
                var job = Job($"r{r}", r, priority: random.Next(1, 1001), cpuCores: random.Next(1, 5),
                    gpus: random.Next(0, 3), gpuMilli: 0);
                if (job.Demand.Resources.Gpus == 0 && random.Next(2) == 0)
                {
                    job = job with { Demand = job.Demand with { Resources = job.Demand.Resources with { GpuMilli = random.Next(1, 1000) } } };
                }

                if (global::Scheduler.Core.Placement.PlacementEngine.Filter(host, job.Demand) is null)
                {
                    running[job.JobId] = Start(host, job, T0.AddMinutes(-random.Next(0, 600)), checkpointable: random.Next(3) == 0);
                }
            }

            var pending = Job("p", 100, priority: random.Next(500, 1001), cpuCores: random.Next(1, 12), gpus: random.Next(0, 6));
            var now = T0;
            var plan = new PreemptionPlanner(Rules).Plan(pending, nodes.Values, running, now);
            var best = BruteForce(pending, nodes.Values, running, now);

            Assert.That(plan?.Victims.Count, Is.EqualTo(best?.Count), $"scenario {scenario}");
            if (plan is null || best is null)
            {
                continue;
            }

            planned++;
            Assert.That(plan.Cost.Priority, Is.EqualTo(best.Value.Cost.Priority), $"scenario {scenario}");
            Assert.That(plan.Cost.Resources, Is.EqualTo(best.Value.Cost.Resources).Within(1e-9), $"scenario {scenario}");
            Assert.That(plan.Victims.Select(v => running[v].Priority), Has.All.LessThan(pending.Priority).And.All.LessThan(Rules.ProtectedFromPriority));

            var node = nodes[plan.NodeId];
            var copy = new NodeState(node.Id, node.CpuCapacity, node.MemoryCapacity, node.Gpus);
            foreach (var allocation in node.Allocations.Values.Where(a => !plan.Victims.Contains(a.JobId)))
            {
                copy.Allocate(allocation);
            }

            Assert.That(global::Scheduler.Core.Placement.PlacementEngine.Filter(copy, pending.Demand), Is.Null, $"scenario {scenario}: the job fits once the victims are gone");
        }

        Assert.That(planned, Is.GreaterThan(60));
    }

    private static (int Count, VictimCost Cost)? BruteForce(QueuedJob pending, IEnumerable<NodeState> nodes, Dictionary<string, RunningJob> running, DateTimeOffset now)
    {
        (int Count, VictimCost Cost)? best = null;
        foreach (var node in nodes)
        {
            var candidates = node.Allocations.Values
                .Where(a => running[a.JobId].Priority < pending.Priority && running[a.JobId].Priority < Rules.ProtectedFromPriority)
                .ToArray();
            for (var mask = 1; mask < 1 << candidates.Length; mask++)
            {
                var victims = candidates.Where((_, i) => (mask & (1 << i)) != 0).ToArray();
                if (victims.Length > Rules.MaxVictims)
                {
                    continue;
                }

                var copy = new NodeState(node.Id, node.CpuCapacity, node.MemoryCapacity, node.Gpus);
                foreach (var allocation in node.Allocations.Values.Except(victims))
                {
                    copy.Allocate(allocation);
                }

                if (global::Scheduler.Core.Placement.PlacementEngine.Filter(copy, pending.Demand) is not null)
                {
                    continue;
                }

                var cost = default(VictimCost);
                foreach (var v in victims)
                {
                    var job = running[v.JobId];
                    var r = v.Resources;
                    var share = ((double)r.CpuMillis / node.CpuCapacity) + ((double)r.MemoryMib / node.MemoryCapacity) +
                                (node.GpuCapacityMilli == 0 ? 0 : (double)r.TotalGpuMilli / node.GpuCapacityMilli);
                    cost += new VictimCost(job.Priority, share, job.Checkpointable ? 0 : (now - job.StartedAt).TotalSeconds);
                }

                if (best is null || victims.Length < best.Value.Count || (victims.Length == best.Value.Count && cost.Priority < best.Value.Cost.Priority) ||
                    (victims.Length == best.Value.Count && cost.Priority == best.Value.Cost.Priority && cost.Resources < best.Value.Cost.Resources - 1e-12))
                {
                    best = (victims.Length, cost);
                }
            }
        }

        return best;
    }
}
