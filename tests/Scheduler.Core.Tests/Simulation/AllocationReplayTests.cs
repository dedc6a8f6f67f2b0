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
        var workload = new Workload([Task("huge", 8, 1000), Task("cpu", 0, 0)]);

        var result = AllocationReplay.Run(TwoSingleGpuNodes, workload, PlacementDefaults.Name, seed: 7);

        Assert.That(result.Placed, Is.EqualTo(1));
        Assert.That(result.Alloc130, Is.Zero);
    }

    private static TraceTask Task(string name, int gpus, int milli) =>
        new(name, 1000, 1024, gpus, milli, [], null, null, null);
}
