using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>
/// The typical tasks of a workload: the most frequent task shapes covering
/// <see cref="Coverage"/> of all tasks, each weighted by its frequency among the typical tasks (as the
/// paper's simulator does, <c>GetTypicalPods</c>: the weights are renormalised to sum to one after the
/// rare shapes are cut, and shapes of equal frequency are taken larger first). Built once from a trace, or
/// learned online from submitted jobs (the master has no trace): counts decay so the distribution
/// follows the workload, and the typical set is rebuilt as evidence accumulates, replacing the one in use
/// only once it differs materially (<see cref="MaterialChange"/>).
/// </summary>
public sealed class TaskDistribution
{
    /// <summary>Share of tasks the typical set covers (the FGD paper's popularity threshold).</summary>
    public const double DefaultCoverage = 0.95;

    private const double DecayAbove = 20_000;

    /// <summary>
    /// How far a rebuilt typical set learned online must be from the one in use before it replaces it: the total
    /// variation distance between the weights, or the weighted relative change of the tasks' mean memory (which
    /// the memory-aware policies test against a node's free memory, and which moves with no weight moving). Each
    /// replacement changes every score, so every cached node score is dropped; a steady workload would otherwise
    /// replace its set every tenth more job for sampling noise alone (at 10,000 nodes that relearning was four
    /// fifths of the master's placement time). Drift accumulates against the set in use, so a workload that
    /// changes still gets a new set.
    /// </summary>
    public const double MaterialChange = 0.05;
    private readonly Dictionary<Shape, Tally> _counts = [];
    private readonly double _coverage;
    private double _total;
    private double _sinceRebuild;
    private TypicalTask[] _typical = [];

    /// <summary>Creates an empty distribution to be filled by <see cref="Observe"/>.</summary>
    public TaskDistribution(double coverage = DefaultCoverage)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(coverage);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(coverage, 1.0);
        _coverage = coverage;
    }

    /// <summary>Share of tasks the typical set covers.</summary>
    public double Coverage => _coverage;

    /// <summary>The typical tasks, most frequent first; empty until something was observed.</summary>
    public IReadOnlyList<TypicalTask> Typical => _typical;

    internal TypicalTask[] TypicalArray => _typical;

    /// <summary>Jobs counted so far (halved with the counts once past the decay threshold).</summary>
    internal double Observed => _total;

    /// <summary>Bumped whenever <see cref="Typical"/> changes, so scorers can drop their caches.</summary>
    public int Version { get; private set; }

    /// <summary>The distribution of <paramref name="demands"/> (e.g. a whole trace).</summary>
    public static TaskDistribution FromDemands(IEnumerable<JobDemand> demands, double coverage = DefaultCoverage)
    {
        var d = new TaskDistribution(coverage);
        foreach (var demand in demands)
        {
            d.Count(demand.Resources, demand.GpuModels);
        }

        d.Rebuild();
        return d;
    }

    /// <summary>A copy of this distribution whose typical set covers <paramref name="coverage"/> of the tasks.</summary>
    public TaskDistribution WithCoverage(double coverage)
    {
        var copy = new TaskDistribution(coverage);
        foreach (var (shape, tally) in _counts)
        {
            copy._counts.Add(shape, new Tally { Models = tally.Models, Count = tally.Count, MemorySum = tally.MemorySum });
        }

        copy._total = _total;
        copy.Rebuild();
        return copy;
    }

    /// <summary>Counts one submitted job; rebuilds the typical set when enough has changed.</summary>
    public void Observe(JobDemand demand)
    {
        Count(demand.Resources, demand.GpuModels);
        _sinceRebuild++;

        // Rebuild quickly while little is known, then only after a tenth more evidence.
        if (_typical.Length == 0 || _sinceRebuild >= Math.Max(8, _total * 0.1))
        {
            Rebuild(keepUnlessMaterial: true);
        }
    }

    private void Count(ResourceRequest r, IReadOnlyList<string> models)
    {
        var count = r.IsSharedGpu ? 1 : r.Gpus;
        var milli = r.IsSharedGpu ? r.GpuMilli : (r.Gpus > 0 ? ResourceLimits.MilliPerGpu : 0);
        var key = new Shape(r.CpuMillis, count, milli, ModelsKey(models));
        ref var tally = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_counts, key, out var existed);
        if (!existed)
        {
            tally = new Tally { Models = models.Count == 0 ? [] : [.. models] };
        }

        tally!.Count++;
        tally.MemorySum += r.MemoryMib;
        _total++;

        if (_total > DecayAbove)
        {
            // Halve every count: old jobs fade, the typical set follows the current workload.
            foreach (var t in _counts.Values)
            {
                t.Count /= 2;
                t.MemorySum /= 2;
            }

            _total /= 2;
        }
    }

    private void Rebuild(bool keepUnlessMaterial = false)
    {
        _sinceRebuild = 0;
        if (_total <= 0)
        {
            _typical = [];
            Version++;
            return;
        }

        var ordered = _counts
            .OrderByDescending(kv => kv.Value.Count)
            .ThenByDescending(kv => kv.Key.CpuMillis)
            .ThenByDescending(kv => kv.Key.GpuMilli)
            .ThenByDescending(kv => kv.Key.GpuCount)
            .ThenByDescending(kv => kv.Key.Models, StringComparer.Ordinal)
            .ToList();
        var chosen = new List<KeyValuePair<Shape, Tally>>();
        double cumulative = 0;
        foreach (var kv in ordered)
        {
            if (cumulative >= _coverage * _total)
            {
                break;
            }

            chosen.Add(kv);
            cumulative += kv.Value.Count;
        }

        if (keepUnlessMaterial && _typical.Length > 0 && !DiffersMaterially(chosen, cumulative))
        {
            return;
        }

        _typical = chosen
            .Select(kv => new TypicalTask(
                kv.Key.CpuMillis,
                (long)(kv.Value.MemorySum / kv.Value.Count),
                kv.Key.GpuCount,
                kv.Key.GpuMilli,
                kv.Value.Models,
                kv.Value.Count / cumulative))
            .ToArray();
        Version++;
    }

    /// <summary>
    /// Whether <paramref name="chosen"/> is <see cref="MaterialChange"/> or more from the typical set in use: in the
    /// total variation distance between the weights, or in the mean memory of the shapes both hold, each shape's
    /// relative change weighted by its new weight.
    /// </summary>
    private bool DiffersMaterially(List<KeyValuePair<Shape, Tally>> chosen, double cumulative)
    {
        var current = new Dictionary<Shape, TypicalTask>(_typical.Length);
        foreach (var t in _typical)
        {
            current[new Shape(t.CpuMillis, t.GpuCount, t.GpuMilli, ModelsKey(t.GpuModels))] = t;
        }

        double distance = 0;
        double memoryDrift = 0;
        foreach (var (shape, tally) in chosen)
        {
            var weight = tally.Count / cumulative;
            if (!current.Remove(shape, out var old))
            {
                distance += weight;
                continue;
            }

            distance += Math.Abs(weight - old.Weight);
            var memory = (long)(tally.MemorySum / tally.Count);
            var larger = Math.Max(memory, old.MemoryMib);
            if (larger > 0)
            {
                memoryDrift += weight * Math.Abs(memory - old.MemoryMib) / larger;
            }
        }

        foreach (var old in current.Values)
        {
            distance += old.Weight;
        }

        return distance / 2 >= MaterialChange || memoryDrift >= MaterialChange;
    }

    private static string ModelsKey(IReadOnlyList<string> models) =>
        models.Count == 0 ? string.Empty : string.Join('|', models.Select(m => m.ToUpperInvariant()).Order(StringComparer.Ordinal));

    private readonly record struct Shape(long CpuMillis, int GpuCount, int GpuMilli, string Models);

    private sealed class Tally
    {
        public double Count { get; set; }

        public double MemorySum { get; set; }

        public required string[] Models { get; init; }
    }
}
