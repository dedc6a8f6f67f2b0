using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

public sealed class FragmentationTests
{
    // Half the tasks share 500 milli of one GPU, half take one whole GPU; both need 4 cores.
    private static readonly TaskDistribution HalfSharedHalfWhole = TaskDistribution.FromDemands(
    [
        Demand(new ResourceRequest(4000, 1024, 0, 500)),
        Demand(new ResourceRequest(4000, 1024, 0, 500)),
        Demand(new ResourceRequest(4000, 1024, 1)),
        Demand(new ResourceRequest(4000, 1024, 1)),
    ]);

    [Test]
    public void Grouped_measure_equals_the_per_task_measure_bit_for_bit_on_random_nodes()
    {
        string[] models = ["A100", "T4", "V100"];
        for (var seed = 1; seed <= 200; seed++)
        {
            var random = new Random(seed);
            var demands = Enumerable.Range(0, random.Next(1, 60)).Select(k => new JobDemand(
                $"j{k}",
                random.Next(4) switch
                {
                    0 => new ResourceRequest(random.Next(0, 16) * 1000L, random.Next(1, 64) * 1024L),
                    1 => new ResourceRequest(random.Next(0, 16) * 1000L, random.Next(1, 64) * 1024L, 0, random.Next(1, 10) * 100),
                    _ => new ResourceRequest(random.Next(0, 16) * 1000L, random.Next(1, 64) * 1024L, random.Next(1, 9)),
                },
                random.Next(4) == 0 ? [models[random.Next(models.Length)]] : [],
                new Dictionary<string, string>())).ToList();
            var typical = TaskDistribution.FromDemands(demands, coverage: 1.0).TypicalArray;
            var gpus = random.Next(0, 11);
            var node = new NodeState("n", 64_000, 512 * 1024, Enumerable.Range(0, gpus).Select(g => new GpuDevice(g, $"g{g}", models[random.Next(models.Length)], 0)).ToArray());
            var masks = Fragmentation.AccessMasks(node, typical);
            Fragmentation.Group(masks, typical, out var groupOf, out var groupMask, out var groupMilli);
            for (var state = 0; state < 20; state++)
            {
                var free = Enumerable.Range(0, gpus).Select(_ => random.Next(3) == 0 ? 1000 : random.Next(0, 11) * 100).ToArray();
                var cpu = random.Next(0, 20) * 1000L;
                var memory = random.Next(0, 80) * 1024L;
                foreach (var memoryAware in new[] { false, true })
                {
                    var plain = Fragmentation.Compute(cpu, memory, free, masks, typical, memoryAware);
                    var grouped = Fragmentation.Compute(cpu, memory, free, typical, memoryAware, groupOf, groupMask, groupMilli);
                    Assert.That(BitConverter.DoubleToInt64Bits(grouped), Is.EqualTo(BitConverter.DoubleToInt64Bits(plain)), $"seed {seed} state {state}");
                }
            }
        }
    }

    [Test]
    public void Typical_tasks_are_weighted_by_frequency()
    {
        Assert.That(HalfSharedHalfWhole.Typical.Select(t => t.Weight), Is.EqualTo(new[] { 0.5, 0.5 }));
    }

    [Test]
    public void Counts_only_gpus_too_small_for_a_task_that_fits()
    {
        var node = Node(cpu: 32_000, model: "T4", gpus: 2);
        Take(node, 700, gpu: 1);

        // free [1000, 300]: both tasks fit on GPU 0 and neither can use the 300 left on GPU 1.
        Assert.That(Fragmentation.OfNode(node, HalfSharedHalfWhole), Is.EqualTo((0.5 * 300) + (0.5 * 300)).Within(1e-9));
    }

    [Test]
    public void Counts_a_gpu_as_fragment_only_for_tasks_larger_than_its_free_share()
    {
        var node = Node(cpu: 32_000, model: "T4", gpus: 2);
        Take(node, 1000, gpu: 0);
        Take(node, 400, gpu: 1);

        // free [0, 600]: the 500-milli task fits (no fragment), the whole-GPU task does not (all 600).
        Assert.That(Fragmentation.OfNode(node, HalfSharedHalfWhole), Is.EqualTo(0.5 * 600).Within(1e-9));
    }

    [Test]
    public void Counts_every_idle_gpu_when_the_node_lacks_cpu()
    {
        var node = Node(cpu: 3_000, model: "T4", gpus: 2);

        Assert.That(Fragmentation.OfNode(node, HalfSharedHalfWhole), Is.EqualTo(2000).Within(1e-9));
    }

    [Test]
    public void Counts_every_idle_gpu_for_a_task_of_another_model_or_a_cpu_only_task()
    {
        var distribution = TaskDistribution.FromDemands(
        [
            new JobDemand("a", new ResourceRequest(1000, 1024, 1), ["V100"], new Dictionary<string, string>()),
            Demand(new ResourceRequest(1000, 1024)),
        ]);
        var node = Node(cpu: 32_000, model: "T4", gpus: 2);

        Assert.That(Fragmentation.OfNode(node, distribution), Is.EqualTo((0.5 * 2000) + (0.5 * 2000)).Within(1e-9));
    }

    [Test]
    public void An_idle_node_that_fits_every_gpu_task_has_no_fragment()
    {
        var node = Node(cpu: 32_000, model: "T4", gpus: 8);

        Assert.That(Fragmentation.OfNode(node, HalfSharedHalfWhole), Is.Zero);
    }

    private static JobDemand Demand(ResourceRequest request) => JobDemand.Of("t", request);

    private static NodeState Node(long cpu, string model, int gpus) =>
        new("n", cpu, 1 << 20, Enumerable.Range(0, gpus).Select(g => new GpuDevice(g, $"g{g}", model, 16_384)).ToArray());

    private static void Take(NodeState node, int milli, int gpu) =>
        node.Allocate(new Allocation($"x{node.Allocations.Count}", node.Id, new ResourceRequest(0, 0, 0, milli), [new GpuShare(gpu, milli)]));
}
