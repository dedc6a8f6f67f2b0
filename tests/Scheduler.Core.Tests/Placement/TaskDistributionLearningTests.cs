using Scheduler.Core.Placement;
using Scheduler.Core.Resources;

namespace Scheduler.Core.Tests.Placement;

/// <summary>
/// The typical tasks a master learns online: replaced only when the evidence differs materially from the
/// set in use (every replacement drops every cached score), yet following a workload that changes.
/// </summary>
public sealed class TaskDistributionLearningTests
{
    // Twelve shapes of falling frequency: whole GPUs, shared GPUs and CPU-only, as a trace holds them.
    private static readonly (ResourceRequest Request, int Weight)[] Steady =
    [
        (new ResourceRequest(4000, 8192, Gpus: 1), 30),
        (new ResourceRequest(8000, 16_384, Gpus: 2), 14),
        (new ResourceRequest(2000, 4096, 0, 500), 12),
        (new ResourceRequest(16_000, 65_536, Gpus: 8), 9),
        (new ResourceRequest(1000, 2048), 8),
        (new ResourceRequest(6000, 8192, 0, 250), 7),
        (new ResourceRequest(12_000, 32_768, Gpus: 4), 6),
        (new ResourceRequest(3000, 4096, Gpus: 1), 5),
        (new ResourceRequest(500, 1024), 4),
        (new ResourceRequest(2000, 4096, 0, 300), 2),
        (new ResourceRequest(24_000, 98_304, Gpus: 8), 2),
        (new ResourceRequest(1500, 2048, 0, 100), 1),
    ];

    [Test]
    public void A_steady_workload_keeps_its_typical_set_once_learned()
    {
        var learned = new TaskDistribution();
        var random = new Random(42);
        Observe(learned, random, 5000, "warm");
        var version = learned.Version;

        // Each tenth more evidence is a rebuild point (about 20 of them here, across decays of the counts),
        // and each replaced the set before. Sampling noise, with a shape that sits on the 95% coverage
        // boundary and flips in and out of the set, may tip one over the bound; not one in ten.
        Observe(learned, random, 40_000, "steady");

        Assert.That(learned.Version - version, Is.LessThanOrEqualTo(2), "no replacement for noise");
        Assert.That(Distance(learned.Typical, Truth()), Is.LessThan(TaskDistribution.MaterialChange), "the kept set is still the workload's");
    }

    [Test]
    public void A_workload_that_changes_gets_a_new_typical_set()
    {
        var learned = new TaskDistribution();
        var random = new Random(7);
        Observe(learned, random, 5000, "before");
        var before = learned.Version;
        var newcomer = new ResourceRequest(32_000, 131_072, Gpus: 8);

        // From now on every fifth job is of a shape never seen: past the material bound, it joins the set.
        for (var k = 0; k < 5000; k++)
        {
            learned.Observe(k % 5 == 0 ? JobDemand.Of($"new-{k}", newcomer) : Draw(random, $"after-{k}"));
        }

        Assert.That(learned.Version, Is.GreaterThan(before));
        var joined = learned.Typical.SingleOrDefault(t => t.CpuMillis == newcomer.CpuMillis && t.GpuCount == 8);
        Assert.That(joined, Is.Not.Null, "the new shape is typical now");
        Assert.That(joined!.Weight, Is.GreaterThan(0.05));
    }

    [Test]
    public void Drift_too_small_for_one_rebuild_point_accumulates_against_the_set_in_use()
    {
        var learned = new TaskDistribution();
        var random = new Random(3);
        Observe(learned, random, 3000, "before");
        var before = learned.Version;
        var first = learned.Typical[0];

        // The most frequent shape fades slowly: each stretch moves the weights a little, none by itself
        // materially; compared with the set in use (not the last rebuild's), the drift still tells.
        for (var k = 0; k < 30_000; k++)
        {
            var demand = Draw(random, $"drift-{k}");
            var fading = demand.Resources.CpuMillis == first.CpuMillis && demand.Resources.Gpus == first.GpuCount;
            if (!fading || random.Next(30_000) > k)
            {
                learned.Observe(demand);
            }
        }

        Assert.That(learned.Version, Is.GreaterThan(before));
        var weight = learned.Typical.FirstOrDefault(t => t.CpuMillis == first.CpuMillis && t.GpuCount == first.GpuCount)?.Weight ?? 0;
        Assert.That(weight, Is.LessThan(first.Weight - TaskDistribution.MaterialChange), "the set in use followed the fading shape");
    }

    [Test]
    public void A_workload_whose_tasks_come_to_need_more_memory_in_the_same_shapes_gets_a_new_typical_set()
    {
        // The memory-aware policies (fgd-cpu, the default, among them) ask whether a typical task's memory
        // fits a node. Jobs of the same CPU and GPU shapes now ask four times the memory: the weights do
        // not move, but a set still promising the old memory would count nodes as hosting tasks they cannot.
        var learned = new TaskDistribution();
        var random = new Random(11);
        Observe(learned, random, 5000, "before");
        var first = learned.Typical[0];
        Assert.That(first.MemoryMib, Is.EqualTo(8192), "learned as submitted");

        for (var k = 0; k < 20_000; k++)
        {
            var demand = Draw(random, $"hungry-{k}");
            var r = demand.Resources;
            learned.Observe(JobDemand.Of(demand.JobId, new ResourceRequest(r.CpuMillis, r.MemoryMib * 4, r.Gpus, r.GpuMilli)));
        }

        var now = learned.Typical.Single(t => t.CpuMillis == first.CpuMillis && t.GpuCount == first.GpuCount && t.GpuMilli == first.GpuMilli);
        Assert.That(now.MemoryMib, Is.GreaterThan(2 * 8192), "the set in use follows the memory its tasks ask for");
    }

    private static void Observe(TaskDistribution distribution, Random random, int count, string prefix)
    {
        for (var k = 0; k < count; k++)
        {
            distribution.Observe(Draw(random, $"{prefix}-{k}"));
        }
    }

    private static JobDemand Draw(Random random, string id)
    {
        var pick = random.Next(Steady.Sum(s => s.Weight));
        foreach (var (request, weight) in Steady)
        {
            if (pick < weight)
            {
                return JobDemand.Of(id, request);
            }

            pick -= weight;
        }

        throw new InvalidOperationException("unreachable");
    }

    // The typical set of the exact distribution: the most frequent shapes covering 95% of tasks.
    private static TaskDistribution Truth()
    {
        var demands = new List<JobDemand>();
        foreach (var (request, weight) in Steady)
        {
            for (var k = 0; k < weight * 100; k++)
            {
                demands.Add(JobDemand.Of("t", request));
            }
        }

        return TaskDistribution.FromDemands(demands);
    }

    private static double Distance(IReadOnlyList<TypicalTask> learned, TaskDistribution truth)
    {
        static (long, int, int) Key(TypicalTask t) => (t.CpuMillis, t.GpuCount, t.GpuMilli);
        var exact = truth.Typical.ToDictionary(Key, t => t.Weight);
        var sum = 0.0;
        foreach (var t in learned)
        {
            sum += exact.Remove(Key(t), out var w) ? Math.Abs(t.Weight - w) : t.Weight;
        }

        return (sum + exact.Values.Sum()) / 2;
    }
}
