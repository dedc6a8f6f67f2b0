using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Scaling;

/// <summary>How many hosts of one kind to add (positive) or remove (negative), and why; an entry with no kind (and 0) only notes jobs no host shape fits.</summary>
public sealed record ScalingAdvice(string Model, int Delta, string Reason);

/// <summary>How the advisor judges demand and idleness.</summary>
public sealed record ScalingOptions
{
    /// <summary>Hosts are advised away only after the cluster was observed this long, using the peak over it.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Idle hosts of each kind kept beyond the window's peak need.</summary>
    public int SpareHosts { get; init; } = 1;
}

/// <summary>
/// The autoscaling signal: from pending demand and recent utilisation, how many more or fewer hosts
/// of each kind (GPU model, or "cpu" for hosts without GPUs) the cluster needs. More: the pending jobs
/// are packed (best fit) onto what is free now, and what does not fit onto new hosts shaped like the
/// existing ones of a kind the job accepts; the count of new hosts is the advice. Fewer: where no job
/// of a kind waits, the peak use over the window (with spare hosts kept) shows how many hosts are not
/// needed, of which only those idle now are advised away. Pure and deterministic: the caller feeds
/// observations with their time.
/// </summary>
public sealed class ScalingAdvisor
{
    /// <summary>The kind of hosts without GPUs.</summary>
    public const string CpuOnly = "cpu";

    /// <summary>Pending jobs packed per advice at most.</summary>
    public const int MaxPendingConsidered = 2000;

    private readonly ScalingOptions _options;
    private readonly PlacementEngine _packing = new(new BestFitPolicy());
    private readonly Queue<Observation> _history = new();

    public ScalingAdvisor(ScalingOptions? options = null) => _options = options ?? new ScalingOptions();

    /// <summary>The kind of <paramref name="node"/>: its first GPU's model, or <see cref="CpuOnly"/>.</summary>
    public static string KindOf(NodeState node) => node.Gpus.Count == 0 ? CpuOnly : node.Gpus[0].Model;

    /// <summary>Records what is used on each kind of host now.</summary>
    public void Observe(DateTimeOffset now, IEnumerable<NodeState> nodes)
    {
        var use = new Dictionary<string, Use>(StringComparer.Ordinal);
        foreach (var node in nodes.Where(n => n.Health != NodeHealth.Dead))
        {
            var kind = KindOf(node);
            var used = use.GetValueOrDefault(kind);
            use[kind] = new Use(
                used.GpuMilli + node.GpuCapacityMilli - node.GpuFreeMilliTotal,
                used.CpuMillis + node.CpuCapacity - node.CpuFree,
                used.MemoryMib + node.MemoryCapacity - node.MemoryFree);
        }

        _history.Enqueue(new Observation(now, use));
        while (_history.Count > 1 && now - _history.Peek().At > _options.Window)
        {
            _history.Dequeue();
        }
    }

    /// <summary>The advice now, one entry per kind that should change, ordered by kind.</summary>
    public IReadOnlyList<ScalingAdvice> Advise(DateTimeOffset now, IReadOnlyCollection<NodeState> nodes, IReadOnlyCollection<JobDemand> pending)
    {
        var live = nodes.Where(n => n.Health != NodeHealth.Dead).ToList();
        var advice = new SortedDictionary<string, ScalingAdvice>(StringComparer.Ordinal);
        var (added, waitingKinds, unfit) = HostsForPending(live, pending);
        foreach (var (kind, (hosts, jobs)) in added)
        {
            advice[kind] = new ScalingAdvice(kind, hosts, $"{jobs} pending jobs do not fit on the free capacity");
        }

        if (unfit > 0)
        {
            // Nothing to add helps them: no host kind here can take them even empty.
            advice[""] = new ScalingAdvice("", 0, $"{unfit} pending jobs fit no host shape in the cluster");
        }

        var observed = _history.Count > 0 ? now - _history.Peek().At : TimeSpan.Zero;
        if (observed >= _options.Window)
        {
            foreach (var group in live.GroupBy(KindOf))
            {
                if (advice.ContainsKey(group.Key) || waitingKinds.Contains(group.Key))
                {
                    continue;
                }

                var (removable, needed) = RemovableHosts(group.Key, [.. group]);
                if (removable > 0)
                {
                    advice[group.Key] = new ScalingAdvice(group.Key, -removable,
                        $"peak use over the last {_options.Window.TotalMinutes:0.#} min needs {needed} of {group.Count()} hosts ({_options.SpareHosts} kept spare)");
                }
            }
        }

        return [.. advice.Values.Where(a => a.Delta != 0 || a.Model.Length == 0)];
    }

    /// <summary>New hosts per kind (and the jobs they take) for what waits, the kinds jobs wait for, and how many jobs no host shape fits.</summary>
    private (Dictionary<string, (int Hosts, int Jobs)> Added, HashSet<string> WaitingKinds, int Unfit) HostsForPending(List<NodeState> live, IReadOnlyCollection<JobDemand> pending)
    {
        var scratch = live.Where(n => n.Schedulable).Select(Copy).ToList();
        var byId = scratch.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var templates = live.GroupBy(KindOf).Select(g => g.OrderBy(n => n.Id, StringComparer.Ordinal).First()).ToList();
        var added = new Dictionary<string, (int Hosts, int Jobs)>(StringComparer.Ordinal);
        var waitingKinds = new HashSet<string>(StringComparer.Ordinal);
        var unfit = 0;
        var newHosts = new List<NodeState>();

        // Largest first: the usual first-fit-decreasing bound on the number of new hosts. Bounded, so a
        // huge backlog costs the loop a fixed amount per interval (the advice then counts what the
        // first MaxPendingConsidered jobs need: a lower bound).
        foreach (var demand in pending.Take(MaxPendingConsidered).OrderByDescending(d => d.Resources.TotalGpuMilli).ThenByDescending(d => d.Resources.CpuMillis).ThenBy(d => d.JobId, StringComparer.Ordinal))
        {
            if (_packing.FindAllocation(demand, scratch) is { } fits)
            {
                byId[fits.NodeId].Allocate(fits);
                continue;
            }

            if (_packing.FindAllocation(demand, newHosts) is { } onNew)
            {
                var host = newHosts.Single(n => n.Id == onNew.NodeId);
                host.Allocate(onNew);
                Count(KindOf(host), newHost: false);
                continue;
            }

            var template = templates.FirstOrDefault(t => _packing.FindAllocation(demand, [Copy(t, t.Id)]) is not null);
            if (template is null)
            {
                unfit++;
                continue;
            }

            var created = Copy(template, $"new-{newHosts.Count}");
            created.Allocate(_packing.FindAllocation(demand, [created])!);
            newHosts.Add(created);
            Count(KindOf(created), newHost: true);
        }

        return (added, waitingKinds, unfit);

        void Count(string kind, bool newHost)
        {
            waitingKinds.Add(kind);
            var (hosts, jobs) = added.GetValueOrDefault(kind);
            added[kind] = (hosts + (newHost ? 1 : 0), jobs + 1);
        }
    }

    /// <summary>Hosts of <paramref name="kind"/> not needed at the window's peak (spares kept), capped by those idle now.</summary>
    private (int Removable, int Needed) RemovableHosts(string kind, List<NodeState> hosts)
    {
        var peak = new Use(0, 0, 0);
        foreach (var observation in _history)
        {
            var use = observation.Use.GetValueOrDefault(kind);
            peak = new Use(Math.Max(peak.GpuMilli, use.GpuMilli), Math.Max(peak.CpuMillis, use.CpuMillis), Math.Max(peak.MemoryMib, use.MemoryMib));
        }

        var shape = hosts.OrderBy(n => n.Id, StringComparer.Ordinal).First();
        var needed = Math.Max(
            Needed(peak.GpuMilli, shape.GpuCapacityMilli),
            Math.Max(Needed(peak.CpuMillis, shape.CpuCapacity), Needed(peak.MemoryMib, shape.MemoryCapacity)));
        var surplus = hosts.Count - needed - _options.SpareHosts;
        var idle = hosts.Count(n => n.Allocations.Count == 0);
        return (Math.Max(0, Math.Min(surplus, idle)), needed);
    }

    private static int Needed(long used, long perHost) => perHost <= 0 ? 0 : (int)((used + perHost - 1) / perHost);

    private static NodeState Copy(NodeState node) => Copy(node, node.Id, withAllocations: true);

    private static NodeState Copy(NodeState node, string id, bool withAllocations = false)
    {
        var copy = new NodeState(id, node.CpuCapacity, node.MemoryCapacity, node.Gpus, node.Labels);
        if (withAllocations)
        {
            foreach (var allocation in node.Allocations.Values)
            {
                copy.Allocate(allocation);
            }
        }

        return copy;
    }

    private readonly record struct Use(long GpuMilli, long CpuMillis, long MemoryMib);

    private sealed record Observation(DateTimeOffset At, Dictionary<string, Use> Use);
}
