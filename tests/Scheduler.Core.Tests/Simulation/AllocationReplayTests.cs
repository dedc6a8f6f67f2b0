using Scheduler.Core.Placement;
using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

public sealed class AllocationReplayTests
{
    private static readonly TraceNode[] TwoSingleGpuNodes =
    [
        new("a", 16_000, 65_536, 1, "T4"),
        new("b", 16_000, 65_536, 1, "T4"),
    ];

    [Test]
    public void Inflates_a_list_until_demand_would_pass_130_percent()
    {
        var workload = new Workload([Task("s", 1, 400)]);

        // Capacity 2000 milli, limit 2600: 400 each, so 6 tasks (2400); a seventh would make 2800.
        Assert.That(AllocationReplay.ArrivalOrder(workload, 2000, seed: 42), Has.Length.EqualTo(6));
    }

    [Test]
    public void Replays_a_shared_gpu_trace_as_computed_by_hand()
    {
        var workload = new Workload([Task("s", 1, 400)]);

        var result = AllocationReplay.Run(TwoSingleGpuNodes, workload, "best-fit", seed: 42);

        // Six 400-milli tasks, two fit per GPU: 4 placed, 1600 of 2000 milli. The 100% point is after
        // five arrivals (2000 milli): 4 placed by then too. Each GPU keeps 200 free, too small for
        // the only typical task: 400 milli of fragment, 20% of capacity.
        Assert.Multiple(() =>
        {
            Assert.That(result.Tasks, Is.EqualTo(6));
            Assert.That(result.Placed, Is.EqualTo(4));
            Assert.That(result.Alloc100, Is.EqualTo(80).Within(1e-9));
            Assert.That(result.Alloc130, Is.EqualTo(80).Within(1e-9));
            Assert.That(result.Frag100, Is.EqualTo(20).Within(1e-9));
        });
    }

    [Test]
    public void Reads_allocation_at_100_percent_before_the_task_that_passes_it()
    {
        var nodes = new[] { new TraceNode("a", 16_000, 65_536, 2, "T4") };
        var workload = new Workload([Task("big", 2, 1000), Task("one", 1, 1000)]);

        // 3000 milli arrive on 2000 of capacity: no draws; whichever task comes first takes the node.
        for (var seed = 42; seed <= 51; seed++)
        {
            var order = AllocationReplay.ArrivalOrder(workload, 2000, seed);
            var result = AllocationReplay.Run(nodes, workload, "fgd", seed);
            var expected = order[0] == 0 ? 100.0 : 50.0;
            Assert.That(result.Alloc100, Is.EqualTo(expected), $"seed {seed}");
            Assert.That(result.Alloc130, Is.EqualTo(expected), $"seed {seed}");
            Assert.That(result.Placed, Is.EqualTo(1), $"seed {seed}");
        }
    }

    [Test]
    public void Skips_a_task_that_fits_nowhere_and_places_the_rest()
    {
        // 2000 milli asked of 2000 (limit 2600): no task is dropped; draws add CPU-only tasks until one
        // draws "wide", whose 1000 per GPU would pass the limit. "wide" asks 2 GPUs of nodes with one each.
        var workload = new Workload([Task("wide", 2, 1000), Task("cpu", 0, 0)]);

        var result = AllocationReplay.Run(TwoSingleGpuNodes, workload, PlacementDefaults.Name, seed: 7);

        Assert.That(result.Placed, Is.EqualTo(result.Tasks - 1));
        Assert.That(result.Alloc130, Is.Zero);
    }

    [Test]
    public void Keeps_every_task_shuffled_first_and_appends_the_draws_after_them()
    {
        // Three 1-GPU tasks (3000 milli) on 10 GPUs (limit 13000): the shuffled list, then ten draws
        // (13000); an eleventh would pass the limit.
        var workload = new Workload([Task("a", 1, 1000), Task("b", 1, 1000), Task("c", 1, 1000)]);

        var order = AllocationReplay.ArrivalOrder(workload, 10_000, seed: 42);

        Assert.That(order, Has.Length.EqualTo(13));
        Assert.That(order.Take(3), Is.EquivalentTo(new[] { 0, 1, 2 }));
    }

    [Test]
    public void A_list_asking_more_than_130_percent_loses_random_tasks_until_it_does_not()
    {
        // Four 1-GPU tasks (4000 milli) on 2 GPUs (limit 2600): two are dropped (3000 would still pass).
        var workload = new Workload([Task("a", 1, 1000), Task("b", 1, 1000), Task("c", 1, 1000), Task("d", 1, 1000)]);

        var order = AllocationReplay.ArrivalOrder(workload, 2000, seed: 42);

        Assert.That(order, Has.Length.EqualTo(2));
        Assert.That(order.Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public void A_multi_gpu_draw_is_tested_by_its_share_per_gpu_as_the_simulator_does()
    {
        // One 4-GPU task on 10 GPUs (limit 13000). The simulator tests each draw with the task's milli
        // per GPU (1000) but adds its total (4000): 4000 → 8000 (8000+1000 fits) → 12000 (9000 fits)
        // → 16000 (13000 fits) → stop (17000 would not): four tasks, 160% of capacity.
        var workload = new Workload([Task("four", 4, 1000)]);

        Assert.That(AllocationReplay.ArrivalOrder(workload, 10_000, seed: 42), Has.Length.EqualTo(4));
    }

    [Test]
    public void Reads_allocation_at_100_percent_as_the_mean_over_the_tasks_arriving_there()
    {
        // One GPU (capacity 1000, limit 1300); the only task asks 4 milli: 325 tasks arrive, 0.4% each.
        // The GPU is full after 250 (100.0%). Arrived demand rounds to 100% after the 249th (99.6%),
        // 250th (100.0%) and 251st (100.4%, not placed): allocation 99.6, 100, 100 → mean 99.8667.
        // It rounds to 130% after the 324th and 325th: 100 both. Fragment: the shape fits the 4 milli
        // left at 99.6%, and nothing is left after: 0.
        var nodes = new[] { new TraceNode("a", 16_000, 65_536, 1, "T4") };
        var workload = new Workload([new TraceTask("tiny", 1, 16, 1, 4, [], null, null, null)]);

        var result = AllocationReplay.Run(nodes, workload, PlacementPolicyNames.Fgd, seed: 42);

        Assert.Multiple(() =>
        {
            Assert.That(result.Tasks, Is.EqualTo(325));
            Assert.That(result.Placed, Is.EqualTo(250));
            Assert.That(result.Alloc100, Is.EqualTo((99.6 + 100 + 100) / 3).Within(1e-9));
            Assert.That(result.Alloc130, Is.EqualTo(100).Within(1e-9));
            Assert.That(result.Frag100, Is.Zero.Within(1e-9));
        });
    }

    [Test]
    public void Best_fit_paper_and_fgd_fill_a_small_heterogeneous_cluster_as_computed_by_hand()
    {
        // Nodes: "big" 4 GPUs, 32 cores; "small" 1 GPU, 8 cores (capacity 5000, limit 6500). One task
        // shape, 500 milli and 4 cores: 13 tasks arrive, 10% each. Whatever the order, each GPU takes
        // two tasks and "small" has the cores for two: ten placed, 5000 milli, then three fail.
        // Allocation at 100% (the 10th arrival) and at 130% (the 13th): 100%. Fragment at 100%: none.
        // At 90% (nine placed) one GPU holds 500 free, which the shape fits: still no fragment.
        // best-fit-paper fills "small" first (score 94 against 66 for "big": ⌊100·(1 − 0.5·4000/128000
        // − 0.5·500/8000)⌋ = 94); fgd leaves it alone while "big" has a half-used GPU. Both end full.
        var nodes = new[] { new TraceNode("big", 32_000, 262_144, 4, "T4"), new TraceNode("small", 8_000, 65_536, 1, "T4") };
        var workload = new Workload([new TraceTask("half", 4000, 1024, 1, 500, [], null, null, null)]);

        foreach (var policy in new[] { PlacementPolicyNames.BestFitPaper, PlacementPolicyNames.Fgd })
        {
            var result = AllocationReplay.Run(nodes, workload, policy, seed: 42);
            Assert.Multiple(() =>
            {
                Assert.That(result.Tasks, Is.EqualTo(13), policy);
                Assert.That(result.Placed, Is.EqualTo(10), policy);
                Assert.That(result.Alloc100, Is.EqualTo(100).Within(1e-9), policy);
                Assert.That(result.Alloc130, Is.EqualTo(100).Within(1e-9), policy);
                Assert.That(result.Frag100, Is.Zero.Within(1e-9), policy);
            });
        }
    }

    [Test]
    public void Best_fit_paper_scores_a_cpu_only_task_with_the_whole_free_gpu_of_each_node_as_the_simulator_does()
    {
        // The simulator's BestFitScore weighs the GPU left on a node for a CPU-only task too (its request
        // is 0): "gpu" (8 cores, 1 GPU) left with 0 cores and 1000 milli scores ⌊100·(1 − 0.5·1000/8000)⌋ = 93,
        // "cpu" (10 cores, no GPU) left with 2 cores ⌊100·(1 − 0.5·2000/128000)⌋ = 99: the CPU-only task "c"
        // goes to "cpu" whatever comes first, and "g" (1 GPU, 8 cores) always finds the GPU node's cores.
        // Scored on CPU alone, "c" arriving first would take "gpu" (100 against 99) and strand its GPU.
        // Capacity 1000 milli, limit 1300: the shuffled pair, then draws of "c" until "g" is drawn; each
        // drawn "c" finds 2 cores at most and fails. Allocation 100% at 100% (and at the end).
        var nodes = new[] { new TraceNode("gpu", 8_000, 65_536, 1, "T4"), new TraceNode("cpu", 10_000, 65_536, 0, "") };
        var workload = new Workload([new TraceTask("g", 8000, 1024, 1, 1000, [], null, null, null), new TraceTask("c", 8000, 1024, 0, 0, [], null, null, null)]);
        var cpuFirst = 0;
        for (var seed = 42; seed <= 51; seed++)
        {
            cpuFirst += AllocationReplay.ArrivalOrder(workload, 1000, seed)[0] == 1 ? 1 : 0;
            var result = AllocationReplay.Run(nodes, workload, PlacementPolicyNames.BestFitPaper, seed);
            Assert.Multiple(() =>
            {
                Assert.That(result.Placed, Is.EqualTo(2), $"seed {seed}");
                Assert.That(result.Alloc100, Is.EqualTo(100).Within(1e-9), $"seed {seed}");
                Assert.That(result.Alloc130, Is.EqualTo(100).Within(1e-9), $"seed {seed}");
            });
        }

        Assert.That(cpuFirst, Is.InRange(1, 9), "some seeds bring the CPU-only task first, some the GPU task");
    }

    [Test]
    public void A_gpu_task_is_refused_where_the_gpu_is_free_but_a_cpu_only_task_took_the_cores()
    {
        // One node, 8 cores and 1 GPU; "c" (CPU-only, 8 cores) and "g" (1 GPU, 8 cores). CPU-only tasks
        // go on GPU nodes (the simulator's Open-Gpu-Share filter passes them) and a task must fit the
        // node's cores as kube-scheduler's NodeResourcesFit checks them: whichever comes first takes the
        // node, and "g" after "c" leaves the GPU idle (0%); "g" first allocates it (100%).
        var nodes = new[] { new TraceNode("a", 8_000, 65_536, 1, "T4") };
        var workload = new Workload([new TraceTask("c", 8000, 1024, 0, 0, [], null, null, null), new TraceTask("g", 8000, 1024, 1, 1000, [], null, null, null)]);
        var seen = new HashSet<double>();
        for (var seed = 42; seed <= 51; seed++)
        {
            var expected = AllocationReplay.ArrivalOrder(workload, 1000, seed)[0] == 1 ? 100.0 : 0.0;
            seen.Add(expected);
            var result = AllocationReplay.Run(nodes, workload, PlacementPolicyNames.BestFitPaper, seed);
            Assert.Multiple(() =>
            {
                Assert.That(result.Placed, Is.EqualTo(1), $"seed {seed}");
                Assert.That(result.Alloc100, Is.EqualTo(expected).Within(1e-9), $"seed {seed}");
            });
        }

        Assert.That(seen, Has.Count.EqualTo(2), "both orders occur among the seeds");
    }

    private static TraceTask Task(string name, int gpus, int milli) =>
        new(name, 1000, 1024, gpus, milli, [], null, null, null);
}
